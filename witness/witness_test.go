package witness_test

import (
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"strings"
	"testing"
	"time"

	"filippo.io/torchwood"
	fwitness "github.com/transparency-dev/formats/witness"
	"golang.org/x/mod/sumdb/note"

	"github.com/trialog/trialog/trillian"
	"github.com/trialog/trialog/trillian/checkpoint"
	"github.com/trialog/trialog/witness"
)

// cosigner is an in-process cosignature/v1 signer (torchwood's, the code
// litewitness signs with): enough to test the quorum arithmetic.
type cosigner struct {
	s   *torchwood.CosignatureSigner
	key string
}

func newCosigner(t *testing.T, name string) *cosigner {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	s, err := torchwood.NewCosignatureSigner(name, priv)
	if err != nil {
		t.Fatal(err)
	}
	return &cosigner{s: s, key: s.Verifier().String()}
}

// cosign returns the signature lines s adds to signed, as a witness's
// add-checkpoint response.
func (c *cosigner) cosign(t *testing.T, signed []byte) []byte {
	t.Helper()
	_, err := note.Open(signed, rejectAll{})
	var unv *note.UnverifiedNoteError
	if !errors.As(err, &unv) {
		t.Fatalf("open: %v", err)
	}
	out, err := note.Sign(&note.Note{Text: unv.Note.Text}, c.s)
	if err != nil {
		t.Fatal(err)
	}
	return out[strings.Index(string(out), "\n\n")+2:]
}

type rejectAll struct{}

func (rejectAll) Verifier(name string, hash uint32) (note.Verifier, error) {
	return nil, &note.UnknownVerifierError{Name: name, KeyHash: hash}
}

func signedCheckpoint(t *testing.T, size uint64) (signed []byte, logV note.Verifier, vkey string) {
	t.Helper()
	skey, vkey, err := checkpoint.GenerateKey(checkpoint.Origin("T1"))
	if err != nil {
		t.Fatal(err)
	}
	h := make([]byte, trillian.HashSize)
	h[0] = byte(size)
	signed, err = checkpoint.Sign(skey, trillian.Root{Size: size, Hash: h})
	if err != nil {
		t.Fatal(err)
	}
	logV, err = note.NewVerifier(vkey)
	if err != nil {
		t.Fatal(err)
	}
	return signed, logV, vkey
}

// sponsorIRBNotary is the policy of three witnesses named sponsor, irb
// and notary with the cosigners' keys and the URLs given.
func sponsorIRBNotary(t *testing.T, quorum int, cs [3]*cosigner, urls [3]string) *witness.Policy {
	t.Helper()
	var ws []*witness.Witness
	for i, name := range []string{"sponsor", "irb", "notary"} {
		w, err := witness.NewWitness(name, cs[i].key, urls[i])
		if err != nil {
			t.Fatal(err)
		}
		ws = append(ws, w)
	}
	p, err := witness.NewPolicy(ws, quorum)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestQuorumCountsDistinctListedWitnesses(t *testing.T) {
	signed, logV, _ := signedCheckpoint(t, 7)
	a, b, c := newCosigner(t, "a.example/w"), newCosigner(t, "b.example/w"), newCosigner(t, "c.example/w")
	stranger := newCosigner(t, "stranger.example/w")
	p := sponsorIRBNotary(t, 0, [3]*cosigner{a, b, c}, [3]string{"http://127.0.0.1:1", "http://127.0.0.1:1", "http://127.0.0.1:1"})
	if p.Quorum != 2 {
		t.Fatalf("quorum %d, want majority 2", p.Quorum)
	}
	rep, err := witness.Check(logV, signed, p)
	if err != nil {
		t.Fatal(err)
	}
	if rep.OK() || len(rep.Missing) != 3 {
		t.Fatalf("no cosignature: %v", rep)
	}
	// A stranger's cosignature is kept in the note but never counted.
	withStranger, err := witness.AddCosignature(signed, stranger.cosign(t, signed), stranger.s.Verifier())
	if err != nil {
		t.Fatal(err)
	}
	one, err := witness.AddCosignature(withStranger, a.cosign(t, signed), p.Witnesses[0].Verifier())
	if err != nil {
		t.Fatal(err)
	}
	rep, _ = witness.Check(logV, one, p)
	if rep.OK() || len(rep.Valid) != 1 || rep.Valid[0].Witness != "sponsor" {
		t.Fatalf("one cosignature + stranger: %v", rep)
	}
	if time.Since(rep.Valid[0].Time) > time.Minute {
		t.Errorf("cosignature time %v", rep.Valid[0].Time)
	}
	// The same witness again replaces its line: still one.
	again, err := witness.AddCosignature(one, a.cosign(t, signed), p.Witnesses[0].Verifier())
	if err != nil {
		t.Fatal(err)
	}
	if strings.Count(string(again), "— a.example/w ") != 1 {
		t.Fatalf("duplicate cosignature lines:\n%s", again)
	}
	two, err := witness.AddCosignature(again, b.cosign(t, signed), p.Witnesses[1].Verifier())
	if err != nil {
		t.Fatal(err)
	}
	rep, _ = witness.Check(logV, two, p)
	if !rep.OK() || len(rep.Valid) != 2 || strings.Join(rep.Missing, ",") != "notary" {
		t.Fatalf("two cosignatures: %v", rep)
	}
	// The formats library's own policy evaluation agrees.
	g, err := fwitness.ParsePolicy(p.Marshal(""))
	if err != nil {
		t.Fatal(err)
	}
	if !g.Satisfied(two) || g.Satisfied(one) {
		t.Error("formats/witness disagrees on the quorum")
	}
	// A cosignature of another checkpoint, pasted in, is refused by
	// AddCosignature and reported invalid by Check.
	other, _, _ := signedCheckpoint(t, 8)
	if _, err := witness.AddCosignature(two, c.cosign(t, other), p.Witnesses[2].Verifier()); err == nil {
		t.Error("AddCosignature took a cosignature of another checkpoint")
	}
	forged := append(append([]byte{}, two...), c.cosign(t, other)...)
	rep, err = witness.Check(logV, forged, p)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(rep.Invalid, ",") != "notary" || len(rep.Valid) != 2 {
		t.Fatalf("forged cosignature: %v", rep)
	}
	if !strings.Contains(rep.String(), "invalid: notary") {
		t.Errorf("report %q does not name the invalid witness", rep)
	}
	// A checkpoint not signed by the log is an error, not a report.
	_, otherLog, _ := signedCheckpoint(t, 7)
	if _, err := witness.Check(otherLog, two, p); !errors.Is(err, witness.ErrNotLogSigned) {
		t.Errorf("wrong log key: %v", err)
	}
}

func TestPolicyRoundTripAndErrors(t *testing.T) {
	a, b := newCosigner(t, "a.example/w"), newCosigner(t, "b.example/w")
	wa, _ := witness.NewWitness("sponsor", a.key, "http://127.0.0.1:7380")
	wb, _ := witness.NewWitness("irb", b.key, "")
	p, err := witness.NewPolicy([]*witness.Witness{wa, wb}, 0)
	if err != nil {
		t.Fatal(err)
	}
	if p.Quorum != 2 {
		t.Fatalf("majority of 2 = %d", p.Quorum)
	}
	text := p.Marshal("trialog/T1+01234567+AAAA")
	q, err := witness.ParsePolicy(text)
	if err != nil {
		t.Fatalf("%v\n%s", err, text)
	}
	if string(q.Marshal("trialog/T1+01234567+AAAA")) != string(text) {
		t.Errorf("round trip changed the policy:\n%s\n%s", text, q.Marshal("trialog/T1+01234567+AAAA"))
	}
	if _, err := witness.NewPolicy([]*witness.Witness{wa, wa}, 1); !errors.Is(err, witness.ErrPolicy) {
		t.Error("same witness twice accepted")
	}
	wa2, _ := witness.NewWitness("other", a.key, "")
	if _, err := witness.NewPolicy([]*witness.Witness{wa, wa2}, 2); err == nil || !strings.Contains(err.Error(), "same key") {
		t.Errorf("one key under two names: %v", err)
	}
	if _, err := witness.NewPolicy([]*witness.Witness{wa}, 2); !errors.Is(err, witness.ErrPolicy) {
		t.Error("quorum above the witness count accepted")
	}
	for _, bad := range []string{
		"witness a notakey http://x\nquorum a\n",
		"witness a " + a.key + " ftp://x\nquorum a\n",
		"witness a " + a.key + " http://x\n",
		"witness a " + a.key + " http://x\ngroup g 2 a\nquorum g\n",
		"witness a " + a.key + " http://x\ngroup g 1 a b\nquorum g\n",
		"frobnicate\nquorum none\n",
	} {
		if _, err := witness.ParsePolicy([]byte(bad)); !errors.Is(err, witness.ErrPolicy) {
			t.Errorf("ParsePolicy(%q) = %v, want ErrPolicy", bad, err)
		}
	}
	single, err := witness.ParsePolicy([]byte("witness a " + a.key + " http://x\nquorum a\n"))
	if err != nil || single.Quorum != 1 {
		t.Errorf("single-witness quorum: %v %v", single, err)
	}
}

// TestOneKeyCountsOnce: a key listed under two names (or with another
// type byte) is refused, so one witness's cosignature cannot be
// relabelled to count twice (the cosignature/v1 message does not sign the
// key name).
func TestOneKeyCountsOnce(t *testing.T) {
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	s1, _ := torchwood.NewCosignatureSigner("sponsor.example/witness", priv)
	s2, _ := torchwood.NewCosignatureSigner("notary.example/witness", priv)
	w1, err := witness.NewWitness("sponsor", s1.Verifier().String(), "")
	if err != nil {
		t.Fatal(err)
	}
	w2, err := witness.NewWitness("notary", s2.Verifier().String(), "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := witness.NewPolicy([]*witness.Witness{w1, w2}, 2); err == nil || !strings.Contains(err.Error(), "same key") {
		t.Fatalf("one key under two names: %v", err)
	}
}
