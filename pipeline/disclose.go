package pipeline

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/trialog/trialog/disclosure"
	"github.com/trialog/trialog/internal/durable"
	"github.com/trialog/trialog/leaf"
	"github.com/trialog/trialog/trillian"
	"github.com/trialog/trialog/trillian/checkpoint"
	"github.com/trialog/trialog/workspace"
)

// Every package is logged: prove writes it with a blank disclosure value
// (docs/package-format.md), digests it, appends the disclosure leaf
// through the trial's journal, and only then fills in the leaf's
// inclusion proof and moves the package into place. A package is never
// delivered without its disclosure being logged first.

// reserveDisclosure puts the blank into the package's metadata.
func (w *packageWriter) reserveDisclosure(t *workspace.Trial, treeSize uint64) error {
	nonce := make([]byte, 16)
	if _, err := rand.Read(nonce); err != nil {
		return err
	}
	probe := w.disclosure(strings.Repeat("0", 64), treeSize)
	probe.Subjects, probe.OverrideReason, probe.Operator = strings.Repeat("0", 64), strings.Repeat("0", 64), strings.Repeat("0", 64)
	l, err := leaf.DisclosureLeaf(&probe)
	if err != nil {
		return err
	}
	w.nonce = hex.EncodeToString(nonce)
	w.blank = disclosure.BlankValue(w.nonce, disclosure.ReserveDisclosure(len(l), checkpoint.Origin(t.ID), treeSize))
	w.meta.LoggedValue = w.blank
	return nil
}

// disclosure is the package's disclosure record, but for the commitments
// the journal fills in.
func (w *packageWriter) disclosure(digest string, treeSize uint64) leaf.Disclosure {
	m := w.meta.Manifest
	var disclosed []string
	for _, c := range m.ColumnNames() {
		if w.disclosed(c) {
			disclosed = append(disclosed, c)
		}
	}
	slices.Sort(disclosed)
	redacted := slices.Sorted(slices.Values(w.meta.Redacted))
	var withheld []leaf.WithheldCount
	for _, x := range w.withheldList() {
		withheld = append(withheld, leaf.WithheldCount{Ground: x.Ground, Rows: x.Rows, Participants: uint64(x.Participants)})
	}
	return leaf.Disclosure{
		Format: leaf.DisclosureFormat, Trial: m.Trial, Dataset: m.Dataset, Version: m.Version, ManifestIndex: w.meta.ManifestIndex,
		Mode: w.meta.Mode, Selection: w.meta.Selection, Rows: disclosure.CountRanges(w.rows), Disclosed: disclosed, Redacted: redacted,
		TreeSize: treeSize, Recipient: w.opts.Recipient, Purpose: w.opts.Purpose, Operator: operator(w.opts.Operator),
		Time: decidedAt(w.opts).UTC().Format(time.RFC3339), Consent: w.consentState(), Withheld: withheld, PackageSHA256: digest,
	}
}

// logDisclosure logs the written package (tmp) and delivers it to
// res.Package with its disclosure proof.
func (w *packageWriter) logDisclosure(ctx context.Context, t *workspace.Trial, tmp *os.File, res *ProveResult) error {
	if w.opts.Recipient == "" || w.opts.Purpose == "" {
		return fmt.Errorf("a disclosure needs a recipient and a purpose: %w", workspace.ErrUsage)
	}
	digest, err := durable.FileSHA256(ctx, tmp.Name())
	if err != nil {
		return err
	}
	deliver := func(rec *workspace.DisclosureRecord, signed []byte) error {
		cp, err := checkpoint.Open(t.VerifierKey, signed)
		if err != nil {
			return err
		}
		l, err := rec.Bytes()
		if err != nil {
			return err
		}
		proof, err := t.Log.InclusionProof(ctx, rec.LeafIndex, cp.Size)
		if err != nil {
			return err
		}
		if err := trillian.VerifyInclusion(rec.LeafIndex, cp.Size, trillian.LeafHash(l), proof, cp.Hash); err != nil {
			return fmt.Errorf("self-check: disclosure leaf %d: %w", rec.LeafIndex, err)
		}
		p := &disclosure.DisclosureProof{Nonce: w.nonce,
			LeafIndex: rec.LeafIndex, Leaf: l, Proof: proof, Checkpoint: string(signed)}
		value, err := p.Value(len(w.blank))
		if err != nil {
			return err
		}
		if err := disclosure.FillDisclosure(tmp, w.blank, value); err != nil {
			return err
		}
		if err := durable.Commit(tmp, res.Package, 0o600); err != nil {
			return err
		}
		rec.Package = res.Package
		return nil
	}
	rec, err := t.LogDisclosure(ctx, w.disclosure(digest, res.TreeSize), res.Subjects, w.opts.Override, deliver)
	if err != nil {
		return err
	}
	res.DisclosureLeaf, res.PackageSHA256 = rec.LeafIndex, digest
	return nil
}

// decidedAt is the disclosure's time (ProveOptions.DecidedAt, else now).
func decidedAt(opts ProveOptions) time.Time {
	if opts.DecidedAt.IsZero() {
		return time.Now()
	}
	return opts.DecidedAt
}
