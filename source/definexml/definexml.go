// Package definexml reads the dataset structure out of a CDISC Define-XML
// file (versions 1.0 and 2.x, which share the ODM skeleton): for each
// ItemGroupDef (dataset) the ordered variables, their data types, lengths
// and key sequence. The pipeline uses it to check that a dataset file has
// the columns and keys its define promises and to give typed Arrow schemas.
//
// Define files are metadata of at most a few megabytes, so the document is
// decoded whole with encoding/xml (no streaming). Element and attribute
// names are matched without their namespace, so the def: attributes of
// Define-XML 1.0 (def/v1.0) and 2.x (def/v2.0, def/v2.1) are read alike.
// Only the first MetaDataVersion of the first Study is read.
//
// Versions differ in a few places, normalised here:
//   - Labels: Define-XML 1.0 has a def:Label attribute, 2.x a
//     Description/TranslatedText element; either fills Label.
//   - Keys: 2.x puts KeySequence on the ItemRefs; 1.0 usually has only the
//     def:DomainKeys attribute of the ItemGroupDef ("STUDYID, USUBJID"),
//     which is used, in its order, when no ItemRef carries a KeySequence.
//
// Errors (bad XML, an ItemRef to a missing ItemDef, a non-numeric
// OrderNumber, a key naming no variable, ...) name the file and the dataset
// or item and wrap ErrMalformed.
package definexml

import (
	"errors"
	"strconv"
	"strings"

	"github.com/apache/arrow/go/v17/arrow"
)

// ErrMalformed is wrapped by every error caused by the content of the input.
var ErrMalformed = errors.New("malformed input")

// Define is the dataset structure described by one Define-XML document.
type Define struct {
	// DefineVersion is def:DefineVersion of the MetaDataVersion, e.g.
	// "1.0.0" or "2.1.0" ("" when absent).
	DefineVersion      string
	StudyOID           string
	MetaDataVersionOID string
	// Datasets in document order.
	Datasets []*Dataset
}

// Dataset is one ItemGroupDef.
type Dataset struct {
	OID            string
	Name           string
	SASDatasetName string // Define-XML 2.x; "" in 1.0
	Domain         string
	Label          string
	Structure      string
	// Columns are ordered by OrderNumber when every ItemRef has one, else
	// in document order.
	Columns []Column
	// Keys are the key variable names ordered by KeySequence.
	Keys []string
	// KeyError is set, and Keys empty, when the dataset's key declaration
	// is unusable (a Define-XML 1.0 DomainKeys naming no variable of the
	// dataset); the rest of the document is still read.
	KeyError error
}

// Column is one ItemRef resolved to its ItemDef.
type Column struct {
	ItemOID           string
	Name              string
	Label             string
	DataType          string // text, integer, float, date, datetime, time, partialDate, ...
	Length            int    // 0 when absent
	SignificantDigits int    // 0 when absent
	DisplayFormat     string
	SASFieldName      string
	OrderNumber       int // 0 when absent
	KeySequence       int // 0 when not a key
	Mandatory         bool
	Role              string
}

// Dataset finds a dataset by Name or SASDatasetName (case-insensitive), or
// else by OID.
func (d *Define) Dataset(name string) (*Dataset, bool) {
	for _, ds := range d.Datasets {
		if strings.EqualFold(ds.Name, name) || (ds.SASDatasetName != "" && strings.EqualFold(ds.SASDatasetName, name)) {
			return ds, true
		}
	}
	for _, ds := range d.Datasets {
		if ds.OID == name {
			return ds, true
		}
	}
	return nil, false
}

// ArrowType maps a Define-XML DataType to the Arrow type the pipeline uses:
//
//	integer                      → Int64
//	float, double, decimal       → Float64
//	boolean                      → Boolean
//	text, date, datetime, time,
//	partialDate, partialTime,
//	partialDatetime, incomplete-
//	Datetime, durationDatetime,
//	intervalDatetime, URI, other → String
//
// ISO 8601 dates and times stay text: SDTM values may be partial ("2014-01")
// and their text is what was submitted. Note that the readers of data files
// type by their own metadata: an XPT numeric is always Float64 even where
// the define says integer.
func ArrowType(dataType string) arrow.DataType {
	switch dataType {
	case "integer":
		return arrow.PrimitiveTypes.Int64
	case "float", "double", "decimal":
		return arrow.PrimitiveTypes.Float64
	case "boolean":
		return arrow.FixedWidthTypes.Boolean
	}
	return arrow.BinaryTypes.String
}

// ArrowSchema returns the dataset's columns as an Arrow schema (see
// ArrowType). Every field is nullable, as in the data readers, even when the
// define marks it Mandatory: that is recorded in the field metadata
// ("mandatory" = "Yes") together with "itemOID", "label", "dataType",
// "length", "significantDigits", "displayFormat" and "keySequence" when
// set. Schema metadata: "name", "label", "oid", "keys" (comma-separated).
func (ds *Dataset) ArrowSchema() *arrow.Schema {
	fields := make([]arrow.Field, len(ds.Columns))
	for i, c := range ds.Columns {
		var keys, vals []string
		add := func(k, v string) {
			if v != "" {
				keys, vals = append(keys, k), append(vals, v)
			}
		}
		num := func(n int) string {
			if n == 0 {
				return ""
			}
			return strconv.Itoa(n)
		}
		add("itemOID", c.ItemOID)
		add("label", c.Label)
		add("dataType", c.DataType)
		add("length", num(c.Length))
		add("significantDigits", num(c.SignificantDigits))
		add("displayFormat", c.DisplayFormat)
		add("keySequence", num(c.KeySequence))
		if c.Mandatory {
			add("mandatory", "Yes")
		}
		fields[i] = arrow.Field{Name: c.Name, Type: ArrowType(c.DataType), Nullable: true, Metadata: arrow.NewMetadata(keys, vals)}
	}
	var keys, vals []string
	for _, kv := range [][2]string{{"name", ds.Name}, {"label", ds.Label}, {"oid", ds.OID}, {"keys", strings.Join(ds.Keys, ",")}} {
		if kv[1] != "" {
			keys, vals = append(keys, kv[0]), append(vals, kv[1])
		}
	}
	md := arrow.NewMetadata(keys, vals)
	return arrow.NewSchema(fields, &md)
}
