// Package witness holds what a trial's verifiers need to know about its
// witnesses: the witness policy (who the witnesses are, their C2SP
// tlog-cosignature/v1 verifier keys and the quorum) and the check that a
// signed checkpoint carries a quorum of valid cosignatures.
//
// A witness (c2sp.org/tlog-witness) cosigns a checkpoint only if it is
// consistent with every checkpoint of the same log it cosigned before, so a
// log operator holding the only signing key cannot show two histories (a
// split view) to two verifiers that each demand a quorum of independent
// witnesses. A cosigned checkpoint is the log's signed note with one more
// signature line per witness (c2sp.org/signed-note): every tool that reads
// the checkpoint ignores the extra lines, so the cosigned checkpoint travels
// wherever the checkpoint did.
//
// Formats go through libraries, never by hand: notes and their signatures
// through golang.org/x/mod/sumdb/note, cosignature/v1 verifier keys and
// timestamps through github.com/transparency-dev/formats/note, and the
// policy file is the Sigsum/Tessera witness policy format that
// github.com/transparency-dev/formats/witness.ParsePolicy reads.
//
// This package does no I/O; submitting checkpoints to witnesses over HTTP
// lives in witness/client.
package witness

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"

	fnote "github.com/transparency-dev/formats/note"
	fwitness "github.com/transparency-dev/formats/witness"
	"golang.org/x/mod/sumdb/note"
)

// ErrPolicy is wrapped by errors in a policy (bad key, URL, quorum): the
// CLI treats them as bad input.
var ErrPolicy = errors.New("invalid witness policy")

// Witness is one witness of a policy.
type Witness struct {
	// Name is the local, human name of the witness ("sponsor", "irb"): it
	// names the witness in reports. It need not match the key's name.
	Name string
	// Key is the witness's note verifier key line, as the witness prints
	// it (litewitness logs it as "verifier key"): NAME+HASH+BASE64, of
	// type 0x04 (Ed25519 cosignature/v1) or 0x01 (plain Ed25519, which
	// formats/note treats as cosignature/v1 with the same key).
	Key string
	// URL is where the witness's c2sp.org/tlog-witness API is served (its
	// add-checkpoint endpoint is URL/add-checkpoint). Empty in a
	// verifier-only policy.
	URL string

	verifier note.Verifier
}

// Verifier returns the witness's cosignature/v1 note verifier.
func (w *Witness) Verifier() note.Verifier { return w.verifier }

// NewWitness checks a witness's name, key and URL.
func NewWitness(name, key, rawURL string) (*Witness, error) {
	if !validName(name) {
		return nil, fmt.Errorf("%w: witness name %q: use letters, digits, '.', '_' or '-'", ErrPolicy, name)
	}
	key = strings.TrimSpace(key)
	v, err := fnote.NewVerifierForCosignatureV1(key)
	if err != nil {
		return nil, fmt.Errorf("%w: witness %s: verifier key: %v", ErrPolicy, name, err)
	}
	if rawURL != "" {
		u, err := url.Parse(rawURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, fmt.Errorf("%w: witness %s: URL %q is not an http(s) URL", ErrPolicy, name, rawURL)
		}
	}
	return &Witness{Name: name, Key: key, URL: rawURL, verifier: v}, nil
}

// Policy is a trial's witness policy: a checkpoint is witnessed when at
// least Quorum of Witnesses have cosigned it.
type Policy struct {
	Witnesses []*Witness
	Quorum    int
}

// Majority is the default quorum for n witnesses: more than half.
func Majority(n int) int { return n/2 + 1 }

// NewPolicy checks witnesses (distinct names, distinct keys) and the
// quorum; quorum 0 means the default, a majority.
func NewPolicy(witnesses []*Witness, quorum int) (*Policy, error) {
	names := map[string]bool{}
	keys := map[string]string{}
	for _, w := range witnesses {
		if names[w.Name] {
			return nil, fmt.Errorf("%w: witness %s listed twice", ErrPolicy, w.Name)
		}
		names[w.Name] = true
		id := w.verifier.Name() + "+" + strconv.FormatUint(uint64(w.verifier.KeyHash()), 16)
		if pk, ok := publicKey(w.Key); ok {
			id = pk // one Ed25519 key counts once, whatever its name or type byte
		}
		if other, ok := keys[id]; ok {
			// Two entries with one key would let one witness count twice.
			return nil, fmt.Errorf("%w: witnesses %s and %s have the same key", ErrPolicy, other, w.Name)
		}
		keys[id] = w.Name
	}
	if quorum == 0 && len(witnesses) > 0 {
		quorum = Majority(len(witnesses))
	}
	if quorum < 0 || quorum > len(witnesses) {
		return nil, fmt.Errorf("%w: quorum %d with %d witnesses", ErrPolicy, quorum, len(witnesses))
	}
	return &Policy{Witnesses: witnesses, Quorum: quorum}, nil
}

// With returns a copy of p with w added (or replacing the witness of the
// same name); quorum 0 keeps a default majority.
func (p *Policy) With(w *Witness, quorum int) (*Policy, error) {
	var ws []*Witness
	replaced := false
	for _, old := range p.Witnesses {
		if old.Name == w.Name {
			ws = append(ws, w)
			replaced = true
			continue
		}
		ws = append(ws, old)
	}
	if !replaced {
		ws = append(ws, w)
	}
	return NewPolicy(ws, quorum)
}

// Lookup returns the witness named name, or nil.
func (p *Policy) Lookup(name string) *Witness {
	for _, w := range p.Witnesses {
		if w.Name == name {
			return w
		}
	}
	return nil
}

// groupName is the group every witness of a trialog policy belongs to.
const groupName = "witnesses"

// Marshal encodes p in the Sigsum/Tessera witness policy format
// (https://git.glasklar.is/sigsum/core/sigsum-go/-/blob/main/doc/policy.md
// with cosignature/v1 keys, as formats/witness.ParsePolicy reads it):
//
//	log VKEY
//	witness NAME KEY URL
//	...
//	group witnesses K NAME...
//	quorum witnesses
//
// logKey, if not empty, is written as the log line (ParsePolicy ignores
// it; it tells a reader which log the policy is for). A policy with no
// witnesses has "quorum none".
func (p *Policy) Marshal(logKey string) []byte {
	var b bytes.Buffer
	b.WriteString("# trialog witness policy (c2sp.org/tlog-witness, Sigsum policy format)\n")
	if logKey != "" {
		fmt.Fprintf(&b, "log %s\n", strings.TrimSpace(logKey))
	}
	if len(p.Witnesses) == 0 {
		b.WriteString("quorum none\n")
		return b.Bytes()
	}
	var names []string
	for _, w := range p.Witnesses {
		u := w.URL
		if u == "" {
			u = "-"
		}
		fmt.Fprintf(&b, "witness %s %s %s\n", w.Name, w.Key, u)
		names = append(names, w.Name)
	}
	fmt.Fprintf(&b, "group %s %d %s\n", groupName, p.Quorum, strings.Join(names, " "))
	fmt.Fprintf(&b, "quorum %s\n", groupName)
	return b.Bytes()
}

// ParsePolicy reads a policy in the format Marshal writes. It accepts the
// subset of the Sigsum policy format that means "K of these witnesses":
// witness lines, at most one group over witnesses, and the quorum naming
// that group, one witness, or none. A URL of "-" means none (a
// verifier-only policy). The text is also handed to
// formats/witness.ParsePolicy, so a policy trialog accepts is one Tessera
// and other tlog-witness clients accept too.
func ParsePolicy(text []byte) (*Policy, error) {
	var (
		witnesses []*Witness
		byName    = map[string]*Witness{}
		groups    = map[string][]string{}
		groupK    = map[string]int{}
		quorum    string
	)
	sc := bufio.NewScanner(bytes.NewReader(text))
	lineNo := 0
	for sc.Scan() {
		lineNo++
		line := sc.Text()
		if i := strings.IndexByte(line, '#'); i >= 0 {
			line = line[:i]
		}
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		bad := func(format string, args ...any) (*Policy, error) {
			return nil, fmt.Errorf("%w: line %d: %s", ErrPolicy, lineNo, fmt.Sprintf(format, args...))
		}
		switch f[0] {
		case "log":
			// Which log the policy is for: informative here.
		case "witness":
			if len(f) != 4 {
				return bad("want: witness NAME KEY URL")
			}
			u := f[3]
			if u == "-" {
				u = ""
			}
			w, err := NewWitness(f[1], f[2], u)
			if err != nil {
				return bad("%v", err)
			}
			if byName[w.Name] != nil || groups[w.Name] != nil {
				return bad("name %s defined twice", w.Name)
			}
			byName[w.Name] = w
			witnesses = append(witnesses, w)
		case "group":
			if len(f) < 3 {
				return bad("want: group NAME K|any|all MEMBER...")
			}
			name, members := f[1], f[3:]
			if byName[name] != nil || groups[name] != nil {
				return bad("name %s defined twice", name)
			}
			k := 0
			switch f[2] {
			case "any":
				k = 1
			case "all":
				k = len(members)
			default:
				n, err := strconv.Atoi(f[2])
				if err != nil || n < 0 || n > len(members) {
					return bad("threshold %q for %d members", f[2], len(members))
				}
				k = n
			}
			for _, m := range members {
				if byName[m] == nil {
					return bad("group member %q is not a witness defined above (nested groups are not supported)", m)
				}
			}
			groups[name], groupK[name] = members, k
		case "quorum":
			if len(f) != 2 {
				return bad("want: quorum NAME|none")
			}
			quorum = f[1]
		default:
			return bad("unknown keyword %q", f[0])
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrPolicy, err)
	}
	var p *Policy
	var err error
	switch {
	case quorum == "":
		return nil, fmt.Errorf("%w: no quorum line", ErrPolicy)
	case quorum == "none":
		p, err = NewPolicy(witnesses, 0)
		if err == nil {
			p.Quorum = 0
		}
	case byName[quorum] != nil:
		p, err = NewPolicy([]*Witness{byName[quorum]}, 1)
	case groups[quorum] != nil:
		var ws []*Witness
		for _, m := range groups[quorum] {
			ws = append(ws, byName[m])
		}
		p, err = NewPolicy(ws, groupK[quorum])
		if err == nil && groupK[quorum] == 0 {
			p.Quorum = 0
		}
	default:
		return nil, fmt.Errorf("%w: quorum %q names no witness or group", ErrPolicy, quorum)
	}
	if err != nil {
		return nil, err
	}
	if _, err := fwitness.ParsePolicy(text); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrPolicy, err)
	}
	return p, nil
}

func validName(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	switch s {
	case "witness", "group", "any", "all", "none", "quorum", "log", "-":
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-') {
			return false
		}
	}
	return true
}

// publicKey returns the raw public key of a vkey line (without the type
// byte, so an 0x01 and an 0x04 encoding of one key are equal).
func publicKey(vkey string) (string, bool) {
	parts := strings.SplitN(strings.TrimSpace(vkey), "+", 3)
	if len(parts) != 3 {
		return "", false
	}
	b, err := base64.StdEncoding.DecodeString(parts[2])
	if err != nil || len(b) < 2 {
		return "", false
	}
	return string(b[1:]), true
}

// SameKey reports whether two note verifier key lines hold the same raw
// public key, whatever their names or type bytes (a log's own key must
// not be listed as one of its witnesses).
func SameKey(a, b string) bool {
	ka, okA := publicKey(a)
	kb, okB := publicKey(b)
	return okA && okB && ka == kb
}
