package main

import (
	"errors"
	"fmt"

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
		c       common
		pubFile string
	)
	cmd := &cobra.Command{
		Use:   "verify",
		Short: "Recompute the audit hash chain and checkpoint signatures",
		Long: "Reads every stored audit row and checkpoint, recomputes the chain and the Ed25519 signatures,\n" +
			"and reports the first bad sequence number of a modified, deleted, inserted, reordered or\n" +
			"truncated row. Exits 1 when the log does not verify.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			log := e.logger()
			pub, err := c.auditPublicKey(e, log, pubFile)
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
			if !rep.OK {
				fmt.Fprintf(e.stdout, "FAILED: first bad sequence number %d: %s\n", rep.FirstBad, rep.Reason)
				fmt.Fprintf(e.stdout, "checked %d rows and %d checkpoint signatures\n", rep.Rows, rep.Checkpoints)
				return errVerifyFailed
			}
			if rep.Rows == 0 {
				fmt.Fprintln(e.stdout, "OK: the audit log is empty")
				return nil
			}
			fmt.Fprintf(e.stdout, "OK: %d rows (sequence %d to %d) and %d checkpoint signatures verified\n",
				rep.Rows, rep.FirstSeq, rep.Head.Seq, rep.Checkpoints)
			fmt.Fprintf(e.stdout, "signed head: sequence %d, %x\n", rep.SignedHead.Seq, rep.SignedHead.Hash)
			if rep.Unsigned > 0 {
				fmt.Fprintf(e.stdout, "%d rows after the last checkpoint are chained but not yet signed\n", rep.Unsigned)
			}
			return nil
		},
	}
	c.flags(cmd.Flags(), e)
	cmd.Flags().StringVar(&pubFile, "public-key", "", "PEM file with the audit public key (default: the configured signing key's)")
	return cmd
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
