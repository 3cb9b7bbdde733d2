package definexml

import (
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
)

// XML shapes. Tags carry no namespace so that def/v1.0, v2.0 and v2.1
// attributes all match.
type xODM struct {
	XMLName xml.Name `xml:"ODM"`
	Studies []struct {
		OID  string `xml:"OID,attr"`
		MDVs []xMDV `xml:"MetaDataVersion"`
	} `xml:"Study"`
}

type xMDV struct {
	OID           string       `xml:"OID,attr"`
	DefineVersion string       `xml:"DefineVersion,attr"`
	ItemGroups    []xItemGroup `xml:"ItemGroupDef"`
	Items         []xItemDef   `xml:"ItemDef"`
}

type xDescription struct {
	Texts []struct {
		Lang string `xml:"lang,attr"`
		Text string `xml:",chardata"`
	} `xml:"TranslatedText"`
}

func (d *xDescription) text() string {
	if d == nil || len(d.Texts) == 0 {
		return ""
	}
	for _, t := range d.Texts {
		if t.Lang == "" || strings.HasPrefix(t.Lang, "en") {
			return strings.TrimSpace(t.Text)
		}
	}
	return strings.TrimSpace(d.Texts[0].Text)
}

type xItemGroup struct {
	OID            string        `xml:"OID,attr"`
	Name           string        `xml:"Name,attr"`
	SASDatasetName string        `xml:"SASDatasetName,attr"`
	Domain         string        `xml:"Domain,attr"`
	Label          string        `xml:"Label,attr"` // def:Label, Define-XML 1.0
	Structure      string        `xml:"Structure,attr"`
	DomainKeys     string        `xml:"DomainKeys,attr"` // def:DomainKeys, 1.0
	Description    *xDescription `xml:"Description"`
	Refs           []xItemRef    `xml:"ItemRef"`
}

type xItemRef struct {
	ItemOID     string `xml:"ItemOID,attr"`
	OrderNumber string `xml:"OrderNumber,attr"`
	KeySequence string `xml:"KeySequence,attr"`
	Mandatory   string `xml:"Mandatory,attr"`
	Role        string `xml:"Role,attr"`
}

type xItemDef struct {
	OID               string        `xml:"OID,attr"`
	Name              string        `xml:"Name,attr"`
	DataType          string        `xml:"DataType,attr"`
	Length            string        `xml:"Length,attr"`
	SignificantDigits string        `xml:"SignificantDigits,attr"`
	SASFieldName      string        `xml:"SASFieldName,attr"`
	DisplayFormat     string        `xml:"DisplayFormat,attr"`
	Label             string        `xml:"Label,attr"`
	Description       *xDescription `xml:"Description"`
}

// Parse reads a Define-XML document. name is the file name used in error
// messages.
func Parse(r io.Reader, name string) (*Define, error) {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%s: %s: %w", name, fmt.Sprintf(format, args...), ErrMalformed)
	}
	var doc xODM
	src := &ioErrReader{r: r}
	dec := xml.NewDecoder(src)
	dec.CharsetReader = charsetReader
	if err := dec.Decode(&doc); err != nil {
		var syn *xml.SyntaxError
		switch {
		case src.err != nil:
			return nil, fmt.Errorf("%s: %w", name, src.err) // I/O, not the content
		case errors.As(err, &syn) && syn.Msg == "unexpected EOF":
			return nil, bad("unexpected end of input (line %d)", syn.Line)
		case errors.As(err, &syn):
			return nil, bad("invalid XML at line %d: %s", syn.Line, syn.Msg)
		case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
			return nil, bad("unexpected end of input (line %d)", lineOf(dec))
		}
		return nil, bad("line %d: %v", lineOf(dec), err)
	}
	if len(doc.Studies) == 0 || len(doc.Studies[0].MDVs) == 0 {
		return nil, bad("no Study/MetaDataVersion element")
	}
	mdv := doc.Studies[0].MDVs[0]
	def := &Define{DefineVersion: mdv.DefineVersion, StudyOID: doc.Studies[0].OID, MetaDataVersionOID: mdv.OID}

	items := make(map[string]*xItemDef, len(mdv.Items))
	for i := range mdv.Items {
		it := &mdv.Items[i]
		if it.OID == "" {
			return nil, bad("ItemDef %d: no OID", i+1)
		}
		if _, dup := items[it.OID]; dup {
			return nil, bad("ItemDef %s: duplicate OID", it.OID)
		}
		items[it.OID] = it
	}

	for gi, g := range mdv.ItemGroups {
		where := g.Name
		if where == "" {
			where = g.OID
		}
		if g.Name == "" {
			return nil, bad("ItemGroupDef %d (OID %q): no Name", gi+1, g.OID)
		}
		ds := &Dataset{OID: g.OID, Name: g.Name, SASDatasetName: g.SASDatasetName, Domain: g.Domain,
			Label: g.Label, Structure: g.Structure}
		if ds.Label == "" {
			ds.Label = g.Description.text()
		}
		allOrdered := len(g.Refs) > 0
		seenName := map[string]bool{}
		seenKey := map[int]string{}
		for _, ref := range g.Refs {
			it, ok := items[ref.ItemOID]
			if !ok {
				return nil, bad("ItemGroupDef %s: ItemRef %q: no ItemDef with that OID", where, ref.ItemOID)
			}
			c := Column{ItemOID: it.OID, Name: it.Name, DataType: it.DataType, SASFieldName: it.SASFieldName,
				DisplayFormat: it.DisplayFormat, Label: it.Label, Role: ref.Role, Mandatory: ref.Mandatory == "Yes"}
			if c.Label == "" {
				c.Label = it.Description.text()
			}
			if c.Name == "" {
				return nil, bad("ItemDef %s: no Name", it.OID)
			}
			if seenName[c.Name] {
				return nil, bad("ItemGroupDef %s: variable %s listed twice", where, c.Name)
			}
			seenName[c.Name] = true
			var err error
			for _, f := range []struct {
				attr, val string
				dst       *int
			}{
				{"Length", it.Length, &c.Length},
				{"SignificantDigits", it.SignificantDigits, &c.SignificantDigits},
				{"OrderNumber", ref.OrderNumber, &c.OrderNumber},
				{"KeySequence", ref.KeySequence, &c.KeySequence},
			} {
				if *f.dst, err = positive(f.val); err != nil {
					return nil, bad("ItemGroupDef %s: variable %s: %s %q: want a positive integer", where, c.Name, f.attr, f.val)
				}
			}
			if c.KeySequence > 0 {
				if other, dup := seenKey[c.KeySequence]; dup {
					return nil, bad("ItemGroupDef %s: KeySequence %d on both %s and %s", where, c.KeySequence, other, c.Name)
				}
				seenKey[c.KeySequence] = c.Name
			}
			allOrdered = allOrdered && c.OrderNumber > 0
			ds.Columns = append(ds.Columns, c)
		}
		if allOrdered {
			sort.SliceStable(ds.Columns, func(i, j int) bool { return ds.Columns[i].OrderNumber < ds.Columns[j].OrderNumber })
		}
		if len(seenKey) == 0 && strings.TrimSpace(g.DomainKeys) != "" {
			// Define-XML 1.0: keys only in def:DomainKeys.
			for i, k := range strings.Split(g.DomainKeys, ",") {
				k = strings.TrimSpace(k)
				j := ds.column(k)
				if j < 0 {
					// The CDISC pilot ADaM define has such a slip (ADLBHY
					// lists LBSEQ): it spoils that dataset's keys, not
					// the other datasets of the document.
					ds.KeyError = bad("ItemGroupDef %s: DomainKeys names %q, which is not a variable of the dataset", where, k)
					for c := range ds.Columns {
						ds.Columns[c].KeySequence = 0
					}
					clear(seenKey)
					break
				}
				if ds.Columns[j].KeySequence != 0 {
					return nil, bad("ItemGroupDef %s: DomainKeys names %s twice", where, k)
				}
				ds.Columns[j].KeySequence = i + 1
				seenKey[i+1] = k
			}
		}
		seqs := make([]int, 0, len(seenKey))
		for s := range seenKey {
			seqs = append(seqs, s)
		}
		sort.Ints(seqs)
		for _, s := range seqs {
			ds.Keys = append(ds.Keys, seenKey[s])
		}
		def.Datasets = append(def.Datasets, ds)
	}
	return def, nil
}

func (ds *Dataset) column(name string) int {
	for i, c := range ds.Columns {
		if c.Name == name {
			return i
		}
	}
	return -1
}

// positive parses an optional positive integer attribute ("" → 0).
func positive(s string) (int, error) {
	if s == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil || n <= 0 {
		return 0, errors.New("not a positive integer")
	}
	return n, nil
}

func lineOf(dec *xml.Decoder) int {
	line, _ := dec.InputPos()
	return line
}

// ioErrReader remembers an error of the underlying reader other than EOF, so
// that a failing disk is not reported as a malformed document.
type ioErrReader struct {
	r   io.Reader
	err error
}

func (e *ioErrReader) Read(p []byte) (int, error) {
	n, err := e.r.Read(p)
	if err != nil && err != io.EOF {
		e.err = err
	}
	return n, err
}
