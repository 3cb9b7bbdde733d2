package verify

import (
	"context"
	"fmt"
	"slices"
	"sync"

	"github.com/trialog/trialog/disclosure"
	"github.com/trialog/trialog/leaf"
	"github.com/trialog/trialog/trillian"
	"github.com/trialog/trialog/trillian/checkpoint"
)

// Disclosed is what a package's disclosure record says about its issue.
type Disclosed struct {
	LeafIndex     uint64               `json:"leaf_index"`
	TreeSize      uint64               `json:"tree_size"` // of the checkpoint the leaf's proof is against
	Recipient     string               `json:"recipient"`
	Purpose       string               `json:"purpose"`
	Time          string               `json:"time"`
	Consent       string               `json:"consent"`
	Withheld      []leaf.WithheldCount `json:"withheld"`
	PackageSHA256 string               `json:"package_sha256"`
}

// checkLogged verifies the package's disclosure proof, if it has one:
// the checkpoint is the trial's, the leaf is in its tree, the leaf
// describes this package, and its digest is this file's (with the proof
// blanked). Every package of format 4 has one.
func (v *verifier) checkLogged(ctx context.Context, pkgPath string) (finish func()) {
	none := func() {}
	rep, meta, m := v.rep, v.meta, v.meta.Manifest
	p := meta.Logged
	if p == nil {
		if meta.LoggedValue != "" {
			rep.fail("disclosure proof is still blank: the package was copied before its issue was logged")
		} else {
			rep.fail("the package carries no disclosure proof: its issue is not shown to be logged (package format 4 requires one)")
		}
		return none
	}
	cp, err := checkpoint.Open(v.opts.VerifierKey, []byte(p.Checkpoint))
	if err != nil {
		rep.fail("disclosure proof: checkpoint: %v (signed by another key, or altered)", err)
		return none
	}
	if cp.Origin != v.cp.Origin {
		rep.fail("disclosure proof: checkpoint of %q, the package is of %q", cp.Origin, v.cp.Origin)
		return none
	}
	if p.LeafIndex >= cp.Size {
		rep.fail("disclosure proof: leaf %d is outside the checkpoint's tree of %d", p.LeafIndex, cp.Size)
		return none
	}
	if p.LeafIndex < v.cp.Size {
		// The record is appended after the package's rows were proved
		// against v.cp: one inside that tree is not this package's.
		rep.fail("disclosure record at leaf %d predates the package's checkpoint (tree size %d)", p.LeafIndex, v.cp.Size)
		return none
	}
	if err := trillian.VerifyInclusion(p.LeafIndex, cp.Size, trillian.LeafHash(p.Leaf), p.Proof, cp.Hash); err != nil {
		rep.fail("disclosure record (leaf %d) is not in the checkpointed tree: %v", p.LeafIndex, err)
		return none
	}
	d, err := leaf.ParseDisclosure(p.Leaf)
	if err != nil {
		rep.fail("disclosure record: %v", err)
		return none
	}
	redacted := slices.Sorted(slices.Values(meta.Redacted))
	switch {
	case d.Trial != m.Trial || d.Dataset != m.Dataset || d.Version != m.Version || d.ManifestIndex != meta.ManifestIndex:
		rep.fail("disclosure record is of %s %s version %d (manifest %d), the package of %s %s version %d", d.Trial, d.Dataset, d.Version, d.ManifestIndex, m.Trial, m.Dataset, m.Version)
	case d.Mode != meta.Mode || d.Selection != meta.Selection:
		rep.fail("disclosure record says %s/%s, the package %s/%s", d.Mode, d.Selection, meta.Mode, meta.Selection)
	case d.TreeSize != v.cp.Size:
		rep.fail("disclosure record is of a package against tree size %d, this one is against %d", d.TreeSize, v.cp.Size)
	case !slices.Equal(d.Redacted, redacted):
		rep.fail("disclosure record lists redacted columns %v, the package %v", d.Redacted, redacted)
	case d.Rows != disclosure.CountRanges(v.expected):
		rep.fail("disclosure record counts %d rows, the package's statement %d", d.Rows, disclosure.CountRanges(v.expected))
	}
	// The digest reads the whole package: it runs beside the row checks
	// (which leave part of the cores idle between batches) and its verdict
	// is added when they are done.
	done := make(chan digestResult, 1)
	go func() {
		digest, n, err := disclosure.PackageDigest(ctx, pkgPath, meta.LoggedValue, disclosure.BlankValue(p.Nonce, len(meta.LoggedValue)))
		done <- digestResult{digest, n, err}
	}()
	var once sync.Once
	return func() { once.Do(func() { v.finishLogged(<-done, d, p, cp) }) }
}

// digestResult is the package digest computed beside the row checks.
type digestResult struct {
	digest string
	n      int
	err    error
}

// finishLogged adds the package digest's verdict and the record to the report.
func (v *verifier) finishLogged(r digestResult, d *leaf.Disclosure, p *disclosure.DisclosureProof, cp checkpoint.Checkpoint) {
	rep := v.rep
	switch {
	case r.err != nil:
		rep.fail("disclosure record: %v", r.err)
	case r.n == 0:
		rep.fail("disclosure proof not found in the file's bytes")
	case r.digest != d.PackageSHA256:
		rep.fail("package digest %s… is not the one its disclosure record logged (%s…): the package was altered after it was issued", r.digest[:12], d.PackageSHA256[:min(12, len(d.PackageSHA256))])
	}
	rep.Logged = &Disclosed{LeafIndex: p.LeafIndex, TreeSize: cp.Size, Recipient: d.Recipient, Purpose: d.Purpose,
		Time: d.Time, Consent: d.Consent, Withheld: d.Withheld, PackageSHA256: d.PackageSHA256}
}

// String is the one-line summary of a disclosure record.
func (d *Disclosed) String() string {
	s := fmt.Sprintf("issued %s to %s for purpose %s (consent %s), logged at leaf %d", d.Time, d.Recipient, d.Purpose, d.Consent, d.LeafIndex)
	for _, w := range d.Withheld {
		verb := "withheld"
		if d.Consent == "overridden" {
			verb = "included by override"
		}
		s += fmt.Sprintf("; %s: %d rows of %d participants (%s)", verb, w.Rows, w.Participants, w.Ground)
	}
	return s
}
