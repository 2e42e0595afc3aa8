package compliance

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
)

//go:embed datamap.json
var dataMapJSON []byte

// Erasure says what GDPR Art. 17 erasure does to a table's rows about a subject.
type Erasure string

// The erasure actions.
const (
	EraseDelete      Erasure = "delete"       // the rows are deleted
	EraseCryptoShred Erasure = "crypto-shred" // the rows stay (chain integrity); the subject's key is destroyed
	EraseRetain      Erasure = "retain"       // kept under a legal obligation (Art. 17(3)(b)/(e))
	// EraseTransient: the data only mirrors a live session (a room's current roster, a
	// fan-out queue pruned within minutes) and goes when the subject leaves; it has no
	// subject column to export or erase by.
	EraseTransient Erasure = "transient"
)

// DataMap is the machine-readable record of every table and column sealroom keeps,
// which of them hold personal data, why, on what legal basis and for how long. It is the
// source of the GDPR Art. 30 record, of subject access exports and of erasure, and a
// test keeps it equal to the schema the migrations create.
type DataMap struct {
	Version   int                  `json:"version"`
	Retention map[string]Retention `json:"retention"`
	Tables    []Table              `json:"tables"`
}

// Retention is one retention category: how long, and why.
type Retention struct {
	Period string `json:"period"`
	// Months is the default period for scheduled purges; zero means the category is
	// not purged by sealroom (the audit log has its own retention).
	Months int    `json:"months,omitempty"`
	Basis  string `json:"basis"`
}

// Table describes one table.
type Table struct {
	Table         string `json:"table"`
	Purpose       string `json:"purpose"`
	LegalBasis    string `json:"legal_basis,omitempty"`
	DataSubjects  string `json:"data_subjects,omitempty"`
	Retention     string `json:"retention"`
	SubjectColumn string `json:"subject_column,omitempty"` // the column naming the data subject
	// RetentionColumn is the time a row's retention runs from; rows older than the
	// category's period are purged.
	RetentionColumn string   `json:"retention_column,omitempty"`
	Erasure         Erasure  `json:"erasure,omitempty"`
	Columns         []Column `json:"columns"`
}

// Column describes one column.
type Column struct {
	Name     string `json:"name"`
	Personal bool   `json:"personal,omitempty"`
	Category string `json:"category,omitempty"`
	Secret   bool   `json:"secret,omitempty"` // key material: never exported
	Note     string `json:"note,omitempty"`
}

// Personal reports whether any column of the table holds personal data.
func (t Table) Personal() bool {
	return slices.ContainsFunc(t.Columns, func(c Column) bool { return c.Personal })
}

// LoadDataMap returns the data map compiled into the binary, checked for consistency.
func LoadDataMap() (*DataMap, error) {
	return parseDataMap(dataMapJSON)
}

func parseDataMap(b []byte) (*DataMap, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var m DataMap
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("compliance: data map: %w", err)
	}
	if err := m.check(); err != nil {
		return nil, err
	}
	return &m, nil
}

// check enforces what makes the map usable: every table with personal data says why,
// on what basis, who it is about, how it is erased and how long it is kept.
func (m *DataMap) check() error {
	var errs []error
	seen := map[string]bool{}
	for _, t := range m.Tables {
		if seen[t.Table] {
			errs = append(errs, fmt.Errorf("table %s listed twice", t.Table))
		}
		seen[t.Table] = true
		if t.Purpose == "" {
			errs = append(errs, fmt.Errorf("table %s: no purpose", t.Table))
		}
		if _, ok := m.Retention[t.Retention]; !ok {
			errs = append(errs, fmt.Errorf("table %s: unknown retention category %q", t.Table, t.Retention))
		}
		cols := map[string]bool{}
		for _, c := range t.Columns {
			if cols[c.Name] {
				errs = append(errs, fmt.Errorf("column %s.%s listed twice", t.Table, c.Name))
			}
			cols[c.Name] = true
			if c.Personal && c.Category == "" {
				errs = append(errs, fmt.Errorf("column %s.%s: personal data needs a category", t.Table, c.Name))
			}
		}
		if t.RetentionColumn != "" && !cols[t.RetentionColumn] {
			errs = append(errs, fmt.Errorf("table %s: retention column %q is not one of its columns", t.Table, t.RetentionColumn))
		}
		if !t.Personal() {
			continue
		}
		if t.LegalBasis == "" || t.DataSubjects == "" {
			errs = append(errs, fmt.Errorf("table %s: personal data needs a legal basis and data subjects", t.Table))
		}
		switch t.Erasure {
		case EraseDelete, EraseCryptoShred, EraseRetain:
			if !cols[t.SubjectColumn] {
				errs = append(errs, fmt.Errorf("table %s: subject column %q is not one of its columns", t.Table, t.SubjectColumn))
			}
		case EraseTransient:
			if t.SubjectColumn != "" {
				errs = append(errs, fmt.Errorf("table %s: transient data has no subject column", t.Table))
			}
		default:
			errs = append(errs, fmt.Errorf("table %s: erasure must be delete, crypto-shred, retain or transient", t.Table))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("compliance: data map: %w", err)
	}
	return nil
}

// Table returns the named table's entry.
func (m *DataMap) Table(name string) (Table, bool) {
	i := slices.IndexFunc(m.Tables, func(t Table) bool { return t.Table == name })
	if i < 0 {
		return Table{}, false
	}
	return m.Tables[i], true
}
