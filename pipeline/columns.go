package pipeline

import (
	"context"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/compute"
	"github.com/apache/arrow/go/v17/arrow/memory"

	"github.com/trialog/trialog/canonical"
)

// conditionCells are the canonical cells a --where value stands for: the
// text itself, and the number it spells exactly if it is one ("63" matches
// the number 63 and 63.0; "1-2" or "2014-01" are text only), under the
// dataset's rules.
func conditionCells(rules canonical.Rules, v string) [][]byte {
	text, err := canonical.AppendText(nil, v)
	if err != nil {
		return nil
	}
	out := [][]byte{text}
	if num, ok := rules.ParseNumber(v); ok {
		out = append(out, num)
	}
	return out
}

// dataBytes is the size of an array's buffers, children and dictionary
// included.
func dataBytes(d arrow.ArrayData) int64 {
	var n int64
	for _, b := range d.Buffers() {
		if b != nil {
			n += int64(b.Len())
		}
	}
	for _, c := range d.Children() {
		n += dataBytes(c)
	}
	if dict, ok := d.Dictionary().(*array.Data); ok && dict != nil {
		n += dataBytes(dict)
	}
	return n
}

// takeColumn returns the rows of col at indices (every row when indices is
// nil). A dictionary column is rebuilt with only the entries those rows
// use: its dictionary may hold values of rows the package does not disclose
// (or of no row at all), which must not travel with it.
func takeColumn(ctx context.Context, mem memory.Allocator, col, indices arrow.Array) (arrow.Array, error) {
	dict, ok := col.(*array.Dictionary)
	if !ok {
		if indices == nil {
			col.Retain()
			return col, nil
		}
		return compute.TakeArray(ctx, col, indices)
	}
	idx := dict.Indices()
	if indices != nil {
		var err error
		if idx, err = compute.TakeArray(ctx, idx, indices); err != nil {
			return nil, err
		}
		defer idx.Release()
	}
	values, err := compute.TakeArray(ctx, dict.Dictionary(), idx) // plain, null where idx is
	if err != nil {
		return nil, err
	}
	defer values.Release()
	b := array.NewDictionaryBuilder(mem, dict.DataType().(*arrow.DictionaryType))
	defer b.Release()
	if err := b.AppendArray(values); err != nil {
		return nil, err
	}
	return b.NewArray(), nil
}

// columnOf wraps n values of a fixed-width type, already laid out in data,
// as a column without nulls.
func columnOf(typ arrow.DataType, n int, data []byte) arrow.Array {
	d := array.NewData(typ, n, []*memory.Buffer{nil, memory.NewBufferBytes(data)}, nil, 0, 0)
	defer d.Release()
	return array.MakeFromData(d)
}

// fixedSizeColumn builds a fixed_size_binary column of n values without
// nulls, value k being value(k): one copy per value into one buffer,
// instead of a builder's per-value bookkeeping.
func fixedSizeColumn(typ *arrow.FixedSizeBinaryType, n int, value func(k int) []byte) arrow.Array {
	data := make([]byte, n*typ.ByteWidth)
	for k := 0; k < n; k++ {
		copy(data[k*typ.ByteWidth:(k+1)*typ.ByteWidth], value(k))
	}
	return columnOf(typ, n, data)
}
