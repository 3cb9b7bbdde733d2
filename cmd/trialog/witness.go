package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"filippo.io/torchwood"
	"github.com/urfave/cli/v2"
	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/trialog/trialog/consent"
	"github.com/trialog/trialog/tlogtiles"
	"github.com/trialog/trialog/trillian/checkpoint"
	"github.com/trialog/trialog/trust"
	"github.com/trialog/trialog/verify"
	"github.com/trialog/trialog/witness"
	"github.com/trialog/trialog/workspace"
)

// errNotWitnessed marks a write that is complete and durable but whose
// checkpoint has not reached the witness quorum yet: exit 3 (run
// trialog witness sync later).
var errNotWitnessed = errors.New("checkpoint is waiting for witness cosignatures (run trialog witness sync)")

func witnessCommand() *cli.Command {
	return &cli.Command{
		Name:  "witness",
		Usage: "independent witnesses that cosign the trial's checkpoints (docs/witnessing.md)",
		Subcommands: []*cli.Command{
			{
				Name:  "add",
				Usage: "add (or replace) a witness in the trial's signed witness policy",
				Flags: []cli.Flag{logFlag(), stateFlag(), trialFlag(),
					&cli.StringFlag{Name: "name", Usage: "local name of the witness, e.g. sponsor, irb, notary", Required: true},
					&cli.StringFlag{Name: "url", Usage: "the witness's c2sp.org/tlog-witness URL (add-checkpoint is under it)", Required: true},
					&cli.StringFlag{Name: "key", Usage: "file holding the witness's note verifier key line, as the witness prints it", Required: true},
					&cli.IntFlag{Name: "quorum", Usage: "cosignatures required (default: a majority of the listed witnesses)"},
				},
				Action: witnessAdd,
			},
			{
				Name:   "list",
				Usage:  "print the trial's witness policy and the latest checkpoint's cosignatures",
				Flags:  []cli.Flag{logFlag(), stateFlag(), trialFlag(), jsonFlag()},
				Action: witnessList,
			},
			{
				Name:  "sync",
				Usage: "submit the latest checkpoint to the witnesses that have not cosigned it (exit 3 while the quorum is not met)",
				Flags: []cli.Flag{logFlag(), stateFlag(), trialFlag(), jsonFlag(),
					&cli.DurationFlag{Name: "timeout", Usage: "per witness, retries included", Value: 10 * time.Second},
				},
				Action: func(c *cli.Context) error {
					t, err := openTrial(c, true)
					if err != nil {
						return err
					}
					defer t.Close()
					st, err := t.WitnessLatest(c.Context, workspace.WitnessOptions{Timeout: c.Duration("timeout")})
					if err != nil {
						return err
					}
					if st == nil {
						return usageErr("trial %s has no witnesses (trialog witness add)", t.ID)
					}
					if c.Bool("json") {
						if err := printJSON(st.JSON()); err != nil {
							return err
						}
					} else {
						printWitnessStatus(os.Stdout, st)
					}
					if !st.Witnessed() {
						return errNotWitnessed
					}
					return nil
				},
			},
		},
	}
}

// openTrialPolicy opens the trial (for writing if write) with its
// witness policy: an empty one when no witness was ever added.
func openTrialPolicy(c *cli.Context, write bool) (*workspace.Trial, *witness.Policy, error) {
	t, err := openTrial(c, write)
	if err != nil {
		return nil, nil, err
	}
	p, err := t.WitnessPolicy()
	if err != nil {
		t.Close()
		return nil, nil, err
	}
	if p == nil {
		p = &witness.Policy{}
	}
	return t, p, nil
}

func witnessAdd(c *cli.Context) error {
	keyText, err := os.ReadFile(c.String("key"))
	if err != nil {
		return usageErr("--key %s: %v", c.String("key"), err)
	}
	w, err := witness.NewWitness(c.String("name"), firstLine(keyText), c.String("url"))
	if err != nil {
		return usageErr("--key %s: %v", c.String("key"), err)
	}
	t, p, err := openTrialPolicy(c, true)
	if err != nil {
		return err
	}
	defer t.Close()
	quorum := c.Int("quorum")
	if quorum == 0 && c.IsSet("quorum") {
		return usageErr("--quorum must be at least 1")
	}
	if quorum == 0 && p.Quorum != witness.Majority(len(p.Witnesses)) && len(p.Witnesses) > 0 {
		quorum = p.Quorum // an explicit quorum set before stays
	}
	np, err := p.With(w, quorum)
	if err != nil {
		return usageErr("%v", err)
	}
	if _, err := t.SetWitnessPolicy(c.Context, np); err != nil {
		return err
	}
	fmt.Printf("trial %s: witness %s added; %d witnesses, quorum %d\n", t.ID, w.Name, len(np.Witnesses), np.Quorum)
	// The policy leaf's checkpoint was offered to the witnesses at once, so
	// a witness that does not know the log (403) or cannot be reached shows
	// up now, not at the next ingest. Its answer is reported; the policy
	// stands either way.
	st, err, _ := t.LastWitnessing()
	if err != nil || st == nil {
		return err
	}
	for _, r := range st.Results {
		if r.Witness == w.Name {
			if r.Cosigned {
				fmt.Printf("witness %s cosigned the latest checkpoint (tree size %d)\n", w.Name, st.TreeSize)
			} else {
				fmt.Fprintf(os.Stderr, "trialog: warning: witness %s did not cosign the latest checkpoint: %v\n", w.Name, r.Err)
			}
		}
	}
	return nil
}

func witnessList(c *cli.Context) error {
	t, p, err := openTrialPolicy(c, false)
	if err != nil {
		return err
	}
	defer t.Close()
	signed, err := t.LatestCheckpoint()
	if err != nil {
		return err
	}
	lv, err := note.NewVerifier(t.VerifierKey)
	if err != nil {
		return err
	}
	rep, err := witness.Check(lv, signed, p)
	if err != nil {
		return err
	}
	rec, err := t.WitnessPolicyRecord()
	if err != nil {
		return err
	}
	if c.Bool("json") {
		ws := []map[string]string{}
		for _, w := range p.Witnesses {
			ws = append(ws, map[string]string{"name": w.Name, "url": w.URL, "key": w.Key})
		}
		return printJSON(map[string]any{"trial": t.ID, "quorum": p.Quorum, "witnesses": ws, "policy_log": rec, "latest": rep})
	}
	fmt.Printf("trial %s: %d witnesses, quorum %d", t.ID, len(p.Witnesses), p.Quorum)
	if rec != nil {
		fmt.Printf(" (policy %d, logged at leaf %d)", rec.Seq, rec.LeafIndex)
	}
	fmt.Println()
	for _, w := range p.Witnesses {
		fmt.Printf("  %s  %s  %s\n", w.Name, w.URL, w.Key)
	}
	fmt.Printf("latest checkpoint: %s\n", rep)
	for _, v := range rep.Valid {
		fmt.Printf("  cosigned by %s at %s\n", v.Witness, v.Time.Format(time.RFC3339))
	}
	return nil
}

func printWitnessStatus(out *os.File, st *workspace.WitnessStatus) {
	fmt.Fprintf(out, "witnesses: tree size %d: %s\n", st.TreeSize, st.Report)
	for _, r := range st.Results {
		if r.Err != nil {
			fmt.Fprintf(out, "  %s: %v\n", r.Witness, r.Err)
		}
	}
}

// witnessAfterWrite reports what the witnesses said about the trial's new
// latest checkpoint after a write (ingest, consent: the log-write owner,
// workspace.Finish, submitted it) or submits it (checkpoint, which
// publishes without a write). It returns the status (nil without a policy) and
// errNotWitnessed when the quorum was not reached: the write stands, the
// checkpoint waits for trialog witness sync.
func witnessAfterWrite(c *cli.Context, t *workspace.Trial) (*workspace.WitnessStatus, error) {
	st, err, done := t.LastWitnessing() // the log-write owner submitted it
	if !done {
		st, err = t.WitnessLatest(c.Context, workspace.WitnessOptions{})
	}
	if err != nil || st == nil {
		return nil, err
	}
	if !c.Bool("json") || !st.Witnessed() {
		printWitnessStatus(os.Stderr, st)
	}
	if !st.Witnessed() {
		return st, errNotWitnessed
	}
	return st, nil
}

// verifyWitnessFlags are verify's and consent verify's witness and trust
// options.
func verifyWitnessFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringSliceFlag{Name: "witness", Usage: "a witness's verifier key file; repeat for each (named by the file name)"},
		&cli.IntFlag{Name: "quorum", Usage: "with --witness: cosignatures required (default: a majority)"},
		&cli.StringFlag{Name: "witness-policy", Usage: "witness policy file (Sigsum policy format, as trialog witness add writes it)"},
		&cli.StringFlag{Name: "trust", Usage: "directory remembering the largest checkpoint accepted per log: refuse forks and rollbacks", EnvVars: []string{trust.Env}},
	}
}

// witnessOptions reads the verify witness flags.
func witnessOptions(c *cli.Context) (*witness.Policy, *trust.Store, error) {
	var p *witness.Policy
	files := c.StringSlice("witness")
	if pf := c.String("witness-policy"); pf != "" {
		if len(files) > 0 {
			return nil, nil, usageErr("give --witness or --witness-policy, not both")
		}
		text, err := os.ReadFile(pf)
		if err != nil {
			return nil, nil, usageErr("--witness-policy %s: %v", pf, err)
		}
		if p, err = witness.ParsePolicy(text); err != nil {
			return nil, nil, usageErr("--witness-policy %s: %v", pf, err)
		}
		if c.IsSet("quorum") {
			if p, err = witness.NewPolicy(p.Witnesses, c.Int("quorum")); err != nil {
				return nil, nil, usageErr("--quorum: %v", err)
			}
		}
	} else if len(files) > 0 {
		var ws []*witness.Witness
		for _, f := range files {
			text, err := os.ReadFile(f)
			if err != nil {
				return nil, nil, usageErr("--witness %s: %v", f, err)
			}
			name := strings.TrimSuffix(filepath.Base(f), filepath.Ext(f))
			w, err := witness.NewWitness(sanitizeName(name), firstLine(text), "")
			if err != nil {
				return nil, nil, usageErr("--witness %s: %v", f, err)
			}
			ws = append(ws, w)
		}
		q := c.Int("quorum")
		if c.IsSet("quorum") && q < 1 {
			return nil, nil, usageErr("--quorum must be at least 1")
		}
		var err error
		if p, err = witness.NewPolicy(ws, q); err != nil {
			return nil, nil, usageErr("--witness: %v", err)
		}
	} else if c.IsSet("quorum") {
		return nil, nil, usageErr("--quorum needs --witness or --witness-policy")
	}
	var st *trust.Store
	if dir := c.String("trust"); dir != "" {
		var err error
		if st, err = trust.Open(dir); err != nil {
			return nil, nil, err
		}
	}
	return p, st, nil
}

// applyWitnessOptions sets the verify options from the witness flags
// (opts.VerifierKey must be set): with --log-url, the verifier's memory
// can fetch the consistency proofs a package does not carry.
func applyWitnessOptions(c *cli.Context, opts *verify.Options) error {
	p, st, err := witnessOptions(c)
	if err != nil {
		return err
	}
	if p != nil {
		if p.Quorum < 1 {
			return usageErr("the witness policy's quorum must be at least 1")
		}
		for _, w := range p.Witnesses {
			if witness.SameKey(w.Key, opts.VerifierKey) {
				return usageErr("witness %s has the log's own key: the log cannot witness itself", w.Name)
			}
		}
		if 2*p.Quorum <= len(p.Witnesses) {
			fmt.Fprintf(os.Stderr, "warning: a quorum of %d of %d witnesses does not stop a split view (two histories each need only %d; use a majority, docs/witnessing.md)\n", p.Quorum, len(p.Witnesses), p.Quorum)
		}
	}
	opts.Witnesses, opts.Trust = p, st
	if st != nil && c.IsSet("log-url") {
		opts.Proofs = logURLProofs(c.String("log-url"), opts.VerifierKey)
	}
	return nil
}

// logURLProofs fetches consistency proofs from a published log (C2SP
// tlog-tiles, issue 15's reader): the proof between sizes a < b is made
// with x/mod's tlog.ProveTree from the tiles of the latest published tree,
// each tile checked against that tree's checkpoint (verified with the
// trial's key) by torchwood's tile hash reader. The trust store then
// checks the proof against the roots it holds, so the server is trusted
// for nothing.
func logURLProofs(location, verifierKey string) trust.ProofSource {
	return func(ctx context.Context, a, b uint64) ([][]byte, error) {
		r, err := tlogtiles.OpenReader(location)
		if err != nil {
			return nil, err
		}
		cp, _, err := tlogtiles.Checkpoint(ctx, r, verifierKey)
		if err != nil {
			return nil, err
		}
		if b > cp.Size {
			return nil, fmt.Errorf("%w: the published log %s has tree %d, short of %d", trust.ErrNoProof, location, cp.Size, b)
		}
		hr := torchwood.TileHashReaderWithContext(ctx, tlog.Tree{N: int64(cp.Size), Hash: tlog.Hash(cp.Hash)}, r)
		p, err := tlog.ProveTree(int64(b), int64(a), hr)
		if err != nil {
			return nil, fmt.Errorf("consistency proof %d→%d from %s: %w", a, b, location, err)
		}
		out := make([][]byte, len(p))
		for i := range p {
			out[i] = append([]byte(nil), p[i][:]...)
		}
		return out, nil
	}
}

func indentLines(s, prefix string) string {
	var b strings.Builder
	for _, l := range strings.SplitAfter(s, "\n") {
		if l != "" {
			b.WriteString(prefix + l)
		}
	}
	return b.String()
}

func firstLine(b []byte) string {
	s := strings.TrimSpace(string(b))
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = strings.TrimSpace(s[:i])
	}
	return s
}

func sanitizeName(s string) string {
	var b strings.Builder
	for _, r := range s {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-' {
			b.WriteRune(r)
		} else {
			b.WriteByte('_')
		}
	}
	if b.Len() == 0 {
		return "witness"
	}
	return b.String()
}

// consentWitnessing is what consent verify's witness and trust options
// found.
type consentWitnessing struct {
	quorum   *witness.Report
	decision *trust.Decision
	fork     *trust.ForkError
}

// checkConsentWitnesses checks a consent report's (cosigned) checkpoint
// against the verifier's witness policy and memory (--trust, with the
// consistency proofs a v2 report carries), adding any failure to res.
func checkConsentWitnesses(c *cli.Context, path, vkey string, res *consent.VerifyResult) (*consentWitnessing, error) {
	out := &consentWitnessing{}
	p, st, err := witnessOptions(c)
	if err != nil || (p == nil && st == nil) {
		return out, err
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var rep struct {
		Checkpoint  string              `json:"checkpoint"`
		Consistency map[uint64][][]byte `json:"consistency"`
	}
	if err := json.Unmarshal(data, &rep); err != nil {
		return nil, usageErr("%s: %v", path, err)
	}
	lv, err := note.NewVerifier(vkey)
	if err != nil {
		return nil, usageErr("--key: %v", err)
	}
	if _, err := note.Open([]byte(rep.Checkpoint), note.VerifierList(lv)); err != nil {
		return out, nil // consent.Verify reported the bad checkpoint
	}
	if p != nil {
		if out.quorum, err = witness.Check(lv, []byte(rep.Checkpoint), p); err != nil {
			return nil, err
		}
		if !out.quorum.OK() {
			res.OK = false
			res.Problems = append(res.Problems, "witness quorum not met: "+out.quorum.String())
		}
	}
	if st == nil {
		return out, nil
	}
	var proofs trust.ProofSource
	if c.IsSet("log-url") {
		proofs = logURLProofs(c.String("log-url"), vkey)
	}
	var d *trust.Decision
	if res.OK {
		d, err = st.Accept(c.Context, vkey, []byte(rep.Checkpoint), proofs, rep.Consistency)
	} else {
		d, err = st.Check(c.Context, vkey, []byte(rep.Checkpoint), proofs)
	}
	var fork *trust.ForkError
	switch {
	case errors.As(err, &fork):
		res.OK = false
		res.Problems = append(res.Problems, fork.Error())
		out.fork = fork
	case err != nil:
		return nil, err
	default:
		out.decision = d
	}
	return out, nil
}

// witnessedRecord is a catalog record with the witnesses' cosignatures of
// the checkpoint signed right after it (as far as witnessing got: the
// stored checkpoint of that size), for trialog datasets.
type witnessedRecord struct {
	*workspace.Record
	Witnesses *witness.Report `json:"witnesses,omitempty"`
	// CoveredBy is the size of the latest checkpoint when the record's own
	// checkpoint missed the quorum but the latest one met it: the later
	// tree contains this version (the log only grows), so it is witnessed
	// through that checkpoint.
	CoveredBy uint64 `json:"covered_by_witnessed_tree_size,omitempty"`
}

func (r witnessedRecord) witnessSummary() string {
	if r.Witnesses == nil {
		return ""
	}
	var parts []string
	for _, v := range r.Witnesses.Valid {
		parts = append(parts, v.Witness+" "+v.Time.Format(time.RFC3339))
	}
	s := fmt.Sprintf("\twitnesses %d/%d (quorum %d)", len(r.Witnesses.Valid), len(r.Witnesses.Valid)+len(r.Witnesses.Missing)+len(r.Witnesses.Invalid), r.Witnesses.Quorum)
	if len(parts) > 0 {
		s += ": " + strings.Join(parts, ", ")
	}
	if r.CoveredBy > 0 {
		s += fmt.Sprintf("; covered by the witnessed checkpoint of tree size %d", r.CoveredBy)
	}
	return s
}

// recordWitnesses pairs each record with the cosignatures of its
// checkpoint under the trial's current witness policy (none: nil).
func recordWitnesses(t *workspace.Trial, recs []*workspace.Record) ([]witnessedRecord, error) {
	out := make([]witnessedRecord, len(recs))
	p, err := t.WitnessPolicy()
	if err != nil {
		return nil, err
	}
	lv, err := note.NewVerifier(t.VerifierKey)
	if err != nil {
		return nil, err
	}
	var latestSize uint64 // of the latest checkpoint, if it met the quorum
	if p != nil {
		if signed, cp, err := t.LatestOpened(); err == nil {
			if rep, err := witness.Check(lv, signed, p); err == nil && rep.OK() {
				latestSize = cp.Size
			}
		}
	}
	for i, r := range recs {
		out[i].Record = r
		if p == nil {
			continue
		}
		signed := []byte(r.Checkpoint)
		if cp, err := checkpoint.Open(t.VerifierKey, signed); err == nil {
			if stored, err := t.CheckpointAt(cp.Size); err == nil && stored != nil {
				if scp, err := checkpoint.Open(t.VerifierKey, stored); err == nil && string(scp.Hash) == string(cp.Hash) {
					signed = stored
				}
			}
		}
		if rep, err := witness.Check(lv, signed, p); err == nil {
			out[i].Witnesses = rep
			if !rep.OK() && latestSize > r.ManifestIndex {
				out[i].CoveredBy = latestSize
			}
		}
	}
	return out, nil
}

// withWitnesses adds the witnesses' answer to the write the trial just
// finished ("witnesses", as in ingest --json) to a JSON output.
func withWitnesses(t *workspace.Trial, out map[string]any) map[string]any {
	if st, _, done := t.LastWitnessing(); done && st != nil {
		out["witnesses"] = st.JSON()
	}
	return out
}

// warnUnwitnessed tells the CRO on stderr when a package was made against
// a checkpoint that has not met the trial's witness quorum: the package
// states the policy, so it will fail verification until witness sync
// succeeds and the package is made again.
func warnUnwitnessed(t *workspace.Trial) {
	p, err := t.WitnessPolicy()
	if err != nil || p == nil {
		return
	}
	signed, err := t.LatestCheckpoint()
	if err != nil {
		return
	}
	lv, err := note.NewVerifier(t.VerifierKey)
	if err != nil {
		return
	}
	if rep, err := witness.Check(lv, signed, p); err == nil && !rep.OK() {
		fmt.Fprintf(os.Stderr, "trialog: warning: the package's checkpoint has %s: it fails verification until trialog witness sync reaches the quorum and the package is made again\n", rep)
	}
}
