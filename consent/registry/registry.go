// Package registry is a trial's consent registry: the full records of
// every consent leaf the trial logged (package consent), kept in a bbolt
// store beside the log and checked against it (Check), and the operations
// that need the trial's workspace: auditing an ingested dataset version
// against the consent history (Audit) and making the IRB report
// (MakeReport). Package consent is the storage-free model, report format
// and offline verifier. The spec is docs/consent.md.
package registry

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/trialog/trialog/consent"
	"github.com/trialog/trialog/trillian"
	"github.com/trialog/trialog/workspace"
)

// Registry files in the trial directory.
const (
	RegistryFile = "consent.db" // bbolt: bucket "records", key uint64be(seq), value Record JSON
)

var recordsBucket = []byte("records")

// Registry is a trial's consent registry: the full records of every
// logged consent leaf, in a bbolt store beside the log. Writes go log
// first, then registry; a crash in between leaves a pending file that the
// next writable Open finishes, so the registry never holds a record whose
// leaf is not logged, and never misses one that is.
type Registry struct {
	t        *workspace.Trial
	db       *bolt.DB // nil when read-only and no registry exists yet
	writable bool
	// afterAppend, when set (tests), runs between the log append and the
	// registry write: an error there simulates a crash.
	afterAppend func() error
}

// Open opens the trial's registry. writable needs a trial opened with its
// writer lock; it creates the store and finishes an interrupted append.
func Open(ctx context.Context, t *workspace.Trial, writable bool) (*Registry, error) {
	r := &Registry{t: t, writable: writable}
	path := filepath.Join(t.Dir, RegistryFile)
	if !writable {
		if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
			return r, nil
		}
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: 5 * time.Second, ReadOnly: !writable})
	if err != nil {
		return nil, fmt.Errorf("consent registry %s: %w", path, err)
	}
	r.db = db
	if writable {
		if err := db.Update(func(tx *bolt.Tx) error {
			_, err := tx.CreateBucketIfNotExists(recordsBucket)
			return err
		}); err != nil {
			db.Close()
			return nil, err
		}
		if err := r.recover(ctx); err != nil {
			db.Close()
			return nil, err
		}
	}
	return r, nil
}

// Close closes the store.
func (r *Registry) Close() error {
	if r.db == nil {
		return nil
	}
	return r.db.Close()
}

// Records reads every stored record in seq order.
func (r *Registry) Records() ([]*consent.Record, error) {
	var out []*consent.Record
	if r.db == nil {
		return nil, nil
	}
	err := r.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(recordsBucket)
		if b == nil {
			return nil
		}
		return b.ForEach(func(k, v []byte) error {
			var rec consent.Record
			if err := json.Unmarshal(v, &rec); err != nil {
				return fmt.Errorf("consent registry: record %x: %w", k, err)
			}
			out = append(out, &rec)
			return nil
		})
	})
	return out, err
}

// Book loads the registry into a consent.Book, checking every record against the
// ones before it.
func (r *Registry) Book() (*consent.Book, error) {
	recs, err := r.Records()
	if err != nil {
		return nil, err
	}
	b := consent.NewBook()
	for _, rec := range recs {
		if err := b.Add(rec); err != nil {
			return nil, fmt.Errorf("consent registry: %v (run trialog consent check)", err)
		}
	}
	return b, nil
}

// journalBody is the journal of a consent append: the records being
// logged, in full.
type journalBody struct {
	Records []*consent.Record `json:"records"`
}

// recover finishes a consent append interrupted after it was journaled:
// if the log holds its leaves, the records go into the registry and a
// checkpoint is signed; if it does not, the append never happened and the
// journal is dropped.
func (r *Registry) recover(ctx context.Context) error {
	j, err := r.t.Journal()
	if err != nil || j == nil || j.Kind != workspace.KindConsent {
		return err
	}
	var p journalBody
	if err := json.Unmarshal(j.Body, &p); err != nil {
		return fmt.Errorf("trial %s: consent journal: %w", r.t.ID, err)
	}
	if len(p.Records) == 0 {
		return r.t.Abandon()
	}
	root, err := r.t.Log.LatestRoot(ctx)
	if err != nil {
		return err
	}
	first := p.Records[0].LeafIndex
	n := uint64(len(p.Records))
	logged := root.Size >= first+n
	if logged {
		leaves, err := r.t.Log.Leaves(ctx, first, n)
		if err != nil {
			return err
		}
		for i, rec := range p.Records {
			want, err := rec.Leaf(r.t.ID)
			if err != nil {
				return fmt.Errorf("trial %s: consent journal: %w", r.t.ID, err)
			}
			if !bytes.Equal(leaves[i], want) {
				if i > 0 {
					return fmt.Errorf("trial %s: leaves %d-%d hold only part of a pending consent append", r.t.ID, first, first+n-1)
				}
				logged = false
				break
			}
		}
	}
	if !logged {
		return r.t.Abandon()
	}
	_, err = r.t.Finish(ctx, root, func([]byte) error { return r.store(p.Records) })
	return err
}

func (r *Registry) store(recs []*consent.Record) error {
	return r.db.Update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists(recordsBucket)
		if err != nil {
			return err
		}
		for _, rec := range recs {
			v, err := json.Marshal(rec)
			if err != nil {
				return err
			}
			if err := b.Put(binary.BigEndian.AppendUint64(nil, rec.Seq), v); err != nil {
				return err
			}
		}
		return nil
	})
}

// AddForm registers a form version.
func (r *Registry) AddForm(ctx context.Context, f consent.Form) (*consent.Record, error) {
	recs, err := r.Append(ctx, []*consent.Record{{Form: &f}})
	if err != nil {
		return nil, err
	}
	return recs[0], nil
}

// Append logs new records (forms or events, Seq and LeafIndex unset) as
// one batch: all are validated first, then logged, then stored, then a
// checkpoint is signed. Nothing is written if any record is invalid.
func (r *Registry) Append(ctx context.Context, recs []*consent.Record) ([]*consent.Record, error) {
	if !r.writable {
		return nil, errors.New("consent registry is open read-only")
	}
	if len(recs) == 0 {
		return nil, nil
	}
	book, err := r.Book()
	if err != nil {
		return nil, err
	}
	build := func(start uint64) (any, [][]byte, error) {
		leaves := make([][]byte, len(recs))
		for i, rec := range recs {
			if rec.Event != nil {
				if d, err := consent.ParseDate(rec.Event.Time); err == nil {
					rec.Event.Time = d.Text
				}
			}
			rec.Seq = uint64(len(book.Records)) + 1
			rec.LeafIndex = start + uint64(i)
			if err := book.Add(rec); err != nil {
				return nil, nil, fmt.Errorf("%v: %w", err, consent.ErrInput)
			}
			typ, _, err := rec.Fields()
			if err != nil {
				return nil, nil, fmt.Errorf("%v: %w", err, consent.ErrInput)
			}
			salts, err := consent.DeriveSalts(r.t.Secret(), r.t.ID, rec.Seq, len(consent.FieldNames(typ)))
			if err != nil {
				return nil, nil, err
			}
			rec.Salts = make([]string, len(salts))
			for j, s := range salts {
				rec.Salts[j] = hex.EncodeToString(s)
			}
			if leaves[i], err = rec.Leaf(r.t.ID); err != nil {
				return nil, nil, err
			}
		}
		return journalBody{Records: recs}, leaves, nil
	}
	store := func([]byte) error {
		if r.afterAppend != nil {
			if err := r.afterAppend(); err != nil {
				return err
			}
		}
		return r.store(recs)
	}
	what := fmt.Sprintf("consent append of %d records (any consent command that writes finishes it)", len(recs))
	if _, _, err := r.t.Write(ctx, workspace.KindConsent, what, build, store); err != nil {
		if errors.Is(err, workspace.ErrBusy) {
			return nil, fmt.Errorf("%w: %w", consent.ErrInput, err)
		}
		return nil, err
	}
	return recs, nil
}

// logLeaves fetches leaves in bounded chunks.
func logLeaves(ctx context.Context, log trillian.Log, start, count uint64, fn func(index uint64, leaf []byte) error) error {
	const chunk = 4096
	for count > 0 {
		n := min(count, chunk)
		leaves, err := log.Leaves(ctx, start, n)
		if err != nil {
			return err
		}
		for i, l := range leaves {
			if err := fn(start+uint64(i), l); err != nil {
				return err
			}
		}
		start, count = start+n, count-n
	}
	return nil
}
