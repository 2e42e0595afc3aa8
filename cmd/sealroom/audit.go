package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/sealroom/sealroom/audit"
	"github.com/sealroom/sealroom/server/auth"
)

func newAuditCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "audit",
		Short: "Verify the tamper-evident audit log",
	}
	cmd.AddCommand(newAuditVerifyCmd(e), newAuditPublicKeyCmd(e))
	return cmd
}

// errVerifyFailed makes `audit verify` exit non-zero without repeating its report.
var errVerifyFailed = errors.New("the audit log does not verify")

func newAuditVerifyCmd(e *env) *cobra.Command {
	var (
		c         common
		pubFile   string
		witnesses []string
	)
	cmd := &cobra.Command{
		Use:   "verify",
		Short: "Recompute the audit hash chain and checkpoint signatures",
		Long: "Reads every stored audit row and checkpoint, recomputes the chain and the Ed25519 signatures,\n" +
			"and reports the first bad sequence number of a modified, deleted, inserted, reordered or\n" +
			"truncated row. With --witness, also checks the database against the checkpoints its witness\n" +
			"kept outside it (SEALROOM_AUDIT_WITNESS), which catches a truncated chain with a rewound tip\n" +
			"and deleted checkpoints. Exits 1 when the log does not verify.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			log := e.logger()
			pub, err := c.auditPublicKey(e, log, pubFile)
			if err != nil {
				return err
			}
			// Read the witnesses before the database: a record is written only after its
			// checkpoint committed, so every record read now is in the snapshot below.
			witnessed, err := readWitnesses(e, witnesses)
			if err != nil {
				return err
			}
			pool, err := c.connect(ctx, e, log)
			if err != nil {
				return err
			}
			defer pool.Close()
			rep, err := audit.Verify(ctx, pool, pub)
			if err != nil {
				return err
			}
			var failed error
			switch {
			case !rep.OK:
				fmt.Fprintf(e.stdout, "FAILED: first bad sequence number %d: %s\n", rep.FirstBad, rep.Reason)
				fmt.Fprintf(e.stdout, "checked %d rows and %d checkpoint signatures\n", rep.Rows, rep.Checkpoints)
				failed = errVerifyFailed
			case rep.Rows == 0:
				fmt.Fprintln(e.stdout, "OK: the audit log is empty")
			default:
				fmt.Fprintf(e.stdout, "OK: %d rows (sequence %d to %d) and %d checkpoint signatures verified\n",
					rep.Rows, rep.FirstSeq, rep.Head.Seq, rep.Checkpoints)
				fmt.Fprintf(e.stdout, "signed head: sequence %d, %x\n", rep.SignedHead.Seq, rep.SignedHead.Hash)
				if rep.Unsigned > 0 {
					fmt.Fprintf(e.stdout, "%d rows after the last checkpoint are chained but not yet signed\n", rep.Unsigned)
				}
			}
			if len(witnesses) == 0 {
				return failed
			}
			wrep, err := audit.VerifyWitness(ctx, pool, pub, witnessed)
			if err != nil {
				return err
			}
			for _, p := range wrep.Problems {
				fmt.Fprintf(e.stdout, "WITNESS FAILED: first bad sequence number %d: %s: %s\n", p.Seq, p.Kind, p.Reason)
			}
			if !wrep.OK() {
				return fmt.Errorf("%w: %w", errVerifyFailed, wrep.Problems[0])
			}
			if wrep.Verified == 0 {
				fmt.Fprintln(e.stdout, "WARNING: the witness holds no checkpoint; nothing was checked against it")
				return failed
			}
			fmt.Fprintf(e.stdout, "witness OK: %d checkpoints verified and found in the database; newest sequence %d, %x\n",
				wrep.Verified, wrep.Latest.Seq, wrep.Latest.Hash)
			return failed
		},
	}
	c.flags(cmd.Flags(), e)
	cmd.Flags().StringVar(&pubFile, "public-key", "", "PEM file with the audit public key (default: the configured signing key's)")
	cmd.Flags().StringArrayVar(&witnesses, "witness", nil, "witness file (JSON lines written under SEALROOM_AUDIT_WITNESS) to check the database against (repeatable)")
	return cmd
}

// readWitnesses reads every witness file, reporting torn lines (a crash mid-write).
func readWitnesses(e *env, paths []string) ([]audit.Checkpoint, error) {
	var out []audit.Checkpoint
	for _, p := range paths {
		f, err := os.Open(p)
		if err != nil {
			return nil, fmt.Errorf("witness: %w", err)
		}
		w, err := audit.ReadWitness(f)
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("witness %s: %w", p, err)
		}
		if len(w.Torn) > 0 {
			fmt.Fprintf(e.stdout, "witness %s: skipped %d torn line(s) (a write cut short): lines %v\n", p, len(w.Torn), w.Torn)
		}
		out = append(out, w.Checkpoints...)
	}
	return out, nil
}

func newAuditPublicKeyCmd(e *env) *cobra.Command {
	var c common
	cmd := &cobra.Command{
		Use:   "public-key",
		Short: "Print the audit checkpoint public key (PEM), for verifiers",
		Args:  cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			pub, err := c.auditPublicKey(e, e.logger(), "")
			if err != nil {
				return err
			}
			_, err = e.stdout.Write(auth.MarshalPublicKey(pub))
			return err
		},
	}
	c.flags(cmd.Flags(), e)
	return cmd
}
