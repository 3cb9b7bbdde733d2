package datasetjson

import (
	"encoding/json"
	"fmt"
	"strconv"

	"github.com/apache/arrow/go/v17/arrow"

	"github.com/trialog/trialog/source/internal/sas"
)

// Column is one entry of the Dataset-JSON "columns" array.
type Column struct {
	ItemOID        string `json:"itemOID"`
	Name           string `json:"name"`
	Label          string `json:"label"`
	DataType       string `json:"dataType"`
	TargetDataType string `json:"targetDataType,omitempty"`
	Length         *int   `json:"length,omitempty"`
	DisplayFormat  string `json:"displayFormat,omitempty"`
	KeySequence    *int   `json:"keySequence,omitempty"`
}

// Metadata is the dataset-level part of a Dataset-JSON file that the reader
// keeps (other top-level members are skipped).
type Metadata struct {
	DatasetJSONVersion string   `json:"datasetJSONVersion"`
	Name               string   `json:"name"`
	Label              string   `json:"label"`
	ItemGroupOID       string   `json:"itemGroupOID"`
	StudyOID           string   `json:"studyOID"`
	Records            *int64   `json:"records"`
	Columns            []Column `json:"columns"`
}

// DecimalType is the Arrow type of decimal columns: 20 digits before the
// point and 18 after, exactly.
var DecimalType = &arrow.Decimal128Type{Precision: 38, Scale: 18}

// numericDate is what a numeric column holds when its displayFormat is a
// SAS date, datetime or time format (DATE9., E8601DT., TIME8., …): an
// export that writes SAS dates as numbers (days or seconds since 1960)
// rather than as ISO text with targetDataType "integer". Such a column is
// read like the XPT numeric it came from.
func numericDate(c Column) sas.Temporal {
	switch c.DataType {
	case "integer", "float", "double", "decimal":
		return sas.FormatTemporal(c.DisplayFormat)
	}
	return sas.Number
}

// arrowType maps a column's dataType, targetDataType and displayFormat to
// its Arrow type (see the package documentation for why).
func arrowType(c Column) (arrow.DataType, bool) {
	dataType, target := c.DataType, c.TargetDataType
	if k := numericDate(c); k != sas.Number {
		return k.ArrowType(), true
	}
	switch dataType {
	case "date", "datetime", "time":
		if target != "integer" {
			return arrow.BinaryTypes.String, true
		}
		switch dataType {
		case "date":
			return arrow.FixedWidthTypes.Date32, true
		case "datetime":
			return &arrow.TimestampType{Unit: arrow.Microsecond}, true
		}
		return arrow.FixedWidthTypes.Time64us, true
	case "string", "URI":
		return arrow.BinaryTypes.String, true
	case "integer", "float", "double":
		return arrow.PrimitiveTypes.Float64, true
	case "decimal":
		return DecimalType, true
	case "boolean":
		return arrow.FixedWidthTypes.Boolean, true
	}
	return nil, false
}

// schema validates the columns and builds the Arrow schema.
func (m *Metadata) schema() (*arrow.Schema, error) {
	if len(m.Columns) == 0 {
		return nil, fmt.Errorf("no columns")
	}
	seen := make(map[string]bool, len(m.Columns))
	fields := make([]arrow.Field, len(m.Columns))
	for i, c := range m.Columns {
		if c.Name == "" {
			return nil, fmt.Errorf("column %d: empty name", i+1)
		}
		if seen[c.Name] {
			return nil, fmt.Errorf("column %d: duplicate name %s", i+1, c.Name)
		}
		seen[c.Name] = true
		typ, ok := arrowType(c)
		if !ok {
			return nil, fmt.Errorf("column %s: unknown dataType %q", c.Name, c.DataType)
		}
		md := nonEmptyMetadata("itemOID", c.ItemOID, "label", c.Label, "dataType", c.DataType,
			"targetDataType", c.TargetDataType, "length", intText(c.Length),
			"displayFormat", c.DisplayFormat, "keySequence", intText(c.KeySequence))
		fields[i] = arrow.Field{Name: c.Name, Type: typ, Nullable: true, Metadata: md}
	}
	records := ""
	if m.Records != nil {
		records = strconv.FormatInt(*m.Records, 10)
	}
	md := nonEmptyMetadata("name", m.Name, "label", m.Label, "itemGroupOID", m.ItemGroupOID,
		"studyOID", m.StudyOID, "records", records)
	return arrow.NewSchema(fields, &md), nil
}

// nonEmptyMetadata is Arrow metadata of the key, value pairs in kv whose
// value is not empty: a member absent from the file has no key.
func nonEmptyMetadata(kv ...string) arrow.Metadata {
	var keys, vals []string
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] != "" {
			keys, vals = append(keys, kv[i]), append(vals, kv[i+1])
		}
	}
	return arrow.NewMetadata(keys, vals)
}

// intText is *n in decimal, or "" when n is nil.
func intText(n *int) string {
	if n == nil {
		return ""
	}
	return strconv.Itoa(*n)
}

// decodeMember decodes the value of a known top-level member into m and
// reports whether the key was known.
func (m *Metadata) decodeMember(dec *json.Decoder, key string) (bool, error) {
	dst, known := map[string]any{
		"datasetJSONVersion": &m.DatasetJSONVersion,
		"name":               &m.Name,
		"label":              &m.Label,
		"itemGroupOID":       &m.ItemGroupOID,
		"studyOID":           &m.StudyOID,
		"records":            &m.Records,
		"columns":            &m.Columns,
	}[key]
	if !known {
		return false, nil
	}
	// Decoded from its raw text so that invalid UTF-8 is refused rather
	// than replaced by U+FFFD, as encoding/json would.
	var raw json.RawMessage
	if err := dec.Decode(&raw); err != nil {
		return true, err
	}
	if err := checkText(raw); err != nil {
		return true, err
	}
	return true, json.Unmarshal(raw, dst)
}
