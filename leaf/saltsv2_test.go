package leaf_test

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"os"
	"testing"

	"github.com/trialog/trialog/leaf"
	"github.com/trialog/trialog/trillian"
)

// SaltsV2Vectors are the published vectors of salts v2 and the erasure
// leaf (docs/commitments.md).
type SaltsV2Vectors struct {
	Spec    string       `json:"spec"`
	Key     string       `json:"participant_key_hex"`
	Trial   string       `json:"trial"`
	Dataset string       `json:"dataset"`
	Version uint64       `json:"version"`
	Columns int          `json:"columns"`
	Salts   []SaltVector `json:"salts"`
	Erasure struct {
		Secret    string `json:"secret_hex"`
		LeafIndex uint64 `json:"leaf_index"`
		Subject   string `json:"subject"`
		Salt      string `json:"salt_hex"`
		Operator  string `json:"operator"`
		OpSalt    string `json:"operator_salt_hex"`
		Leaf      string `json:"leaf_hex"`
		Hash      string `json:"leaf_hash_hex"`
	} `json:"erasure_leaf"`
}

func buildSaltsV2(t *testing.T) SaltsV2Vectors {
	key := bytes.Repeat([]byte{0x3c}, 32)
	v := SaltsV2Vectors{Spec: "docs/commitments.md, salts v2 and erasure leaf v1", Key: hex.EncodeToString(key), Trial: "CDISCPILOT01", Dataset: "AE", Version: 1, Columns: 3}
	s, err := leaf.NewSalterV2(key, v.Trial, v.Dataset, v.Version, v.Columns)
	if err != nil {
		t.Fatal(err)
	}
	batch := make([]byte, 2*3*leaf.SaltSize)
	s.Salts(batch, 41, 2) // a run of two rows, as ingest derives them
	for _, rc := range [][2]int{{41, 0}, {41, 2}, {42, 1}, {1 << 40, 2}} {
		salt := make([]byte, leaf.SaltSize)
		s.Salt(salt, uint64(rc[0]), rc[1])
		if rc[0] < 43 {
			k := (rc[0]-41)*3 + rc[1]
			if !bytes.Equal(salt, batch[k*leaf.SaltSize:(k+1)*leaf.SaltSize]) {
				t.Fatalf("Salt and Salts disagree at %v", rc)
			}
		}
		v.Salts = append(v.Salts, SaltVector{uint64(rc[0]), rc[1], hex.EncodeToString(salt)})
	}
	secret := bytes.Repeat([]byte{0x5a}, leaf.SecretSize)
	e := &v.Erasure
	e.Secret, e.LeafIndex, e.Subject = hex.EncodeToString(secret), 1500, "01-701-1028"
	salts, err := leaf.ErasureSalts(secret, v.Trial, e.LeafIndex)
	if err != nil {
		t.Fatal(err)
	}
	e.Salt, e.Operator, e.OpSalt = hex.EncodeToString(salts[leaf.ErasureSaltSubject]), "dpo", hex.EncodeToString(salts[leaf.ErasureSaltOperator])
	c, err := leaf.CommitText(salts[leaf.ErasureSaltSubject], e.Subject)
	if err != nil {
		t.Fatal(err)
	}
	op, err := leaf.CommitText(salts[leaf.ErasureSaltOperator], e.Operator)
	if err != nil {
		t.Fatal(err)
	}
	l, err := leaf.ErasureLeaf(&leaf.Erasure{Format: leaf.ErasureFormat, Trial: v.Trial, Subject: c, Operator: op, Time: "2026-12-03T10:40:00Z", Reason: "collected without valid consent"})
	if err != nil {
		t.Fatal(err)
	}
	e.Leaf, e.Hash = hex.EncodeToString(l), hex.EncodeToString(trillian.LeafHash(l))
	return v
}

func TestSaltsV2Vectors(t *testing.T) {
	want := frozenVectors(t, "../testdata/vectors/salts-v2.json", buildSaltsV2(t))
	var v SaltsV2Vectors
	json.Unmarshal(want, &v)
	l, _ := hex.DecodeString(v.Erasure.Leaf)
	if _, err := leaf.ParseErasure(l); err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(l, []byte(v.Erasure.Subject)) {
		t.Error("the erasure leaf names the participant")
	}
	if _, err := leaf.ParseErasure(append(bytes.Clone(l), ' ')); err == nil {
		t.Error("trailing byte accepted")
	}
	// v1 and v2 never agree: a key cannot be read under the other version.
	v1, _ := leaf.NewSalter(bytes.Repeat([]byte{0x3c}, 32), v.Trial, v.Dataset, v.Version, v.Columns)
	a := make([]byte, leaf.SaltSize)
	v1.Salt(a, 41, 0)
	if hex.EncodeToString(a) == v.Salts[0].Salt {
		t.Error("salts v1 and v2 agree")
	}
}

// FuzzParseErasure: whatever the decoder accepts re-encodes to exactly
// the same bytes.
func FuzzParseErasure(f *testing.F) {
	raw, _ := os.ReadFile("../testdata/vectors/salts-v2.json")
	var v SaltsV2Vectors
	json.Unmarshal(raw, &v)
	seed, _ := hex.DecodeString(v.Erasure.Leaf)
	f.Add(seed)
	f.Add([]byte{5, 1, '{', '}'})
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := leaf.ParseErasure(b)
		if err != nil {
			return
		}
		got, err := leaf.ErasureLeaf(e)
		if err != nil || !bytes.Equal(got, b) {
			t.Fatalf("re-encoding differs: %v\n%x\n%x", err, got, b)
		}
	})
}
