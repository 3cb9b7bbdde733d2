package main

import (
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"os"

	"github.com/urfave/cli/v2"

	"github.com/trialog/trialog/freshness"
	"github.com/trialog/trialog/tlogtiles"
	"github.com/trialog/trialog/trillian"
	"github.com/trialog/trialog/trillian/checkpoint"
	"github.com/trialog/trialog/verify"
)

// consistencyFromURL is `consistency --log-url URL --key VKEY OLD NEW`:
// the consistency proof comes from the published tiles, so it needs no
// secret, no signing key and no CRO directory.
func consistencyFromURL(c *cli.Context) error {
	if c.NArg() != 2 {
		return usageErr("consistency takes two checkpoint files, OLD NEW")
	}
	if !c.IsSet("key") {
		return usageErr("consistency --log-url needs --key (the trial's checkpoint.vkey)")
	}
	vkey, err := readVerifierKey(c.String("key"))
	if err != nil {
		return err
	}
	cps, err := readCheckpoints(c, vkey)
	if err != nil {
		return err
	}
	r, err := tlogtiles.OpenReader(c.String("log-url"))
	if err != nil {
		return err
	}
	proof, verr := tlogtiles.ConsistencyProof(c.Context, r, cps[0].Root, cps[1].Root)
	if verr != nil && !errors.Is(verr, trillian.ErrFork) && !errors.Is(verr, trillian.ErrRollback) {
		return verr
	}
	return printConsistency(c, cps[0], cps[1], proof, verr)
}

// readCheckpoints reads and verifies the OLD and NEW checkpoint files.
func readCheckpoints(c *cli.Context, vkey string) ([2]checkpoint.Checkpoint, error) {
	var cps [2]checkpoint.Checkpoint
	for i := range cps {
		data, err := os.ReadFile(c.Args().Get(i))
		if err != nil {
			return cps, err
		}
		if cps[i], err = checkpoint.Open(vkey, data); err != nil {
			return cps, fmt.Errorf("%s: %v: %w", c.Args().Get(i), err, errVerification)
		}
	}
	return cps, nil
}

// printConsistency prints the outcome of a consistency check.
func printConsistency(c *cli.Context, old, cur checkpoint.Checkpoint, proof [][]byte, verr error) error {
	if c.Bool("json") {
		enc := make([]string, len(proof))
		for i, h := range proof {
			enc[i] = base64.StdEncoding.EncodeToString(h)
		}
		if err := printJSON(map[string]any{"old_size": old.Size, "new_size": cur.Size, "consistent": verr == nil, "proof": enc}); err != nil {
			return err
		}
	} else if verr == nil {
		fmt.Printf("consistent: tree %d extends tree %d (%d proof hashes)\n", cur.Size, old.Size, len(proof))
	}
	if verr != nil {
		return fmt.Errorf("NEW does not extend OLD: %v: %w", verr, errVerification)
	}
	return nil
}

// optional returns a copy of a required string flag that is not required
// (a command where another flag can stand in for it).
func optional(f cli.Flag) cli.Flag {
	if s, ok := f.(*cli.StringFlag); ok {
		c := *s
		c.Required = false
		return &c
	}
	return f
}

// applyFreshnessOptions sets what verify --log-url asks the published
// log: which versions of the dataset it holds after the package's
// (package freshness, every entry checked against the latest checkpoint,
// itself proven to extend the package's). --require-latest makes a newer
// version a failure; it needs a log to ask.
func applyFreshnessOptions(c *cli.Context, opts *verify.Options) error {
	opts.RequireLatest = c.Bool("require-latest")
	if !c.IsSet("log-url") {
		if opts.RequireLatest {
			return usageErr("--require-latest needs --log-url (the log that says which version is the latest)")
		}
		return nil
	}
	r, err := tlogtiles.OpenReader(c.String("log-url"))
	if err != nil {
		return err
	}
	opts.Versions = freshness.New(r, c.String("log-url"), opts.VerifierKey)
	return nil
}

// publishedCheck is what `verify --log-url` adds to a report: the package's
// checkpoint is a prefix of the log's latest published checkpoint.
type publishedCheck struct {
	LogURL     string `json:"log_url"`
	Size       uint64 `json:"published_size"`
	Checkpoint string `json:"published_checkpoint"`
	Consistent bool   `json:"consistent"`
	Problem    string `json:"problem,omitempty"`
}

// checkPublished proves from the published tiles that the tree of the
// package's checkpoint (size, hex root) is a prefix of the latest
// published checkpoint. A fetch failure is an operational error; a log
// that does not extend the package's tree is reported in the result.
func checkPublished(c *cli.Context, vkey string, size uint64, rootHex string) (*publishedCheck, error) {
	root, err := hex.DecodeString(rootHex)
	if err != nil {
		return nil, fmt.Errorf("package root hash: %v", err)
	}
	r, err := tlogtiles.OpenReader(c.String("log-url"))
	if err != nil {
		return nil, err
	}
	cp, signed, err := tlogtiles.Checkpoint(c.Context, r, vkey)
	if errors.Is(err, checkpoint.ErrBadCheckpoint) {
		return &publishedCheck{LogURL: c.String("log-url"), Checkpoint: string(signed), Problem: err.Error()}, nil
	}
	if err != nil {
		return nil, err
	}
	res := &publishedCheck{LogURL: c.String("log-url"), Size: cp.Size, Checkpoint: string(signed)}
	_, err = tlogtiles.ConsistencyProof(c.Context, r, trillian.Root{Size: size, Hash: root}, cp.Root)
	switch {
	case err == nil:
		res.Consistent = true
	case errors.Is(err, trillian.ErrRollback):
		res.Problem = fmt.Sprintf("the published log (tree %d) does not cover the package's tree %d (not yet published, or rolled back)", cp.Size, size)
	case errors.Is(err, trillian.ErrFork):
		res.Problem = "the package's tree is not a prefix of the published log (a fork): " + err.Error()
	default:
		return nil, err
	}
	return res, nil
}

func printPublished(p *publishedCheck) {
	if p == nil {
		return
	}
	if p.Consistent {
		fmt.Printf("  published log %s: tree %d extends the package's checkpoint\n", p.LogURL, p.Size)
		return
	}
	fmt.Printf("  published log %s: %s\n", p.LogURL, p.Problem)
}
