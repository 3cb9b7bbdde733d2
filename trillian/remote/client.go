// Package remote implements trillian.Log over a real Trillian deployment
// (github.com/google/trillian's TrillianLogClient and TrillianAdminClient).
//
// Each trial is one PREORDERED_LOG tree: trialog chooses every leaf index
// itself and Trillian's signer only integrates what was sequenced, so roots
// and proofs are byte-identical to the embedded log's for the same leaves.
// Nothing the server returns is taken on trust: every root is checked to be
// consistent with the previous one, every proof is verified against a
// verified root before it is returned, and every append is checked, leaf by
// leaf, to have produced exactly the expected tree.
//
// Trillian does not sign roots (v1.8.0 removed that); trialog signs its own
// checkpoints from the roots this package returns.
package remote

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	tpb "github.com/google/trillian"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/connectivity"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/trialog/trialog/trillian"
)

// Scheme is the URL scheme of a Trillian backend: trillian://HOST:PORT.
const Scheme = "trillian"

// ParseURL turns trillian://HOST:PORT into the gRPC target HOST:PORT.
func ParseURL(raw string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return "", fmt.Errorf("trillian URL %q: %w", raw, err)
	}
	if u.Scheme != Scheme {
		return "", fmt.Errorf("trillian URL %q: scheme must be %s://", raw, Scheme)
	}
	if u.User != nil || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
		return "", fmt.Errorf("trillian URL %q: want %s://HOST:PORT and nothing else", raw, Scheme)
	}
	host, port := u.Hostname(), u.Port()
	if host == "" || port == "" {
		return "", fmt.Errorf("trillian URL %q: want %s://HOST:PORT (the log server's gRPC port)", raw, Scheme)
	}
	return net.JoinHostPort(host, port), nil
}

// Tree mapping. A trial's tree is found by its description, which is the
// stable marker DescriptionPrefix followed by the full trial ID; the
// display name (VARCHAR(20) in Trillian's schema) only carries a short hash
// of the trial ID so that operators can tell trees apart in listings.
const (
	DescriptionPrefix = "trialog trial v1: "
	displayPrefix     = "trialog-"
	// MaxTrialIDLength is what fits in Trillian's VARCHAR(200) description
	// after the prefix, in characters.
	MaxTrialIDLength = 200 - len(DescriptionPrefix)
)

// Errors of the remote log beyond trillian.ErrWrongIndex and ErrNotFound.
var (
	// ErrTreeExists is returned by CreateTree when the trial has a tree.
	ErrTreeExists = errors.New("trial already has a Trillian tree")
	// ErrConflict means a different leaf is already sequenced at an index
	// being appended: another writer used the tree, or the leaves being
	// resumed are not the ones a crashed append sent.
	ErrConflict = errors.New("a different leaf is already sequenced at this index")
	// ErrStalled means the signer made no progress for the stall timeout.
	ErrStalled = errors.New("tree integration stalled")
	// ErrVerification means the server returned a root, proof or leaf that
	// does not verify.
	ErrVerification = errors.New("server response does not verify")
	// ErrWriterBusy means another Log of this Client is writing the tree.
	ErrWriterBusy = errors.New("tree already has a writer in this process")
)

// TreeDisplayName is the display name given to a trial's tree:
// "trialog-" and the first 12 hex digits of SHA-256(trial ID).
func TreeDisplayName(trialID string) string {
	sum := sha256.Sum256([]byte(trialID))
	return displayPrefix + hex.EncodeToString(sum[:])[:12]
}

// TreeDescription is the description that maps a tree to its trial.
func TreeDescription(trialID string) string { return DescriptionPrefix + trialID }

// TrialOfTree returns the trial ID a tree belongs to, if it is a trialog
// tree.
func TrialOfTree(t *tpb.Tree) (string, bool) {
	if t.GetTreeType() != tpb.TreeType_PREORDERED_LOG || t.GetDeleted() {
		return "", false
	}
	id, ok := strings.CutPrefix(t.GetDescription(), DescriptionPrefix)
	if !ok || id == "" || t.GetDisplayName() != TreeDisplayName(id) {
		return "", false
	}
	return id, true
}

func checkTrialID(id string) error {
	switch {
	case id == "":
		return errors.New("empty trial ID")
	case !utf8.ValidString(id):
		return fmt.Errorf("trial ID %q is not UTF-8", id)
	case utf8.RuneCountInString(id) > MaxTrialIDLength:
		return fmt.Errorf("trial ID of %d characters: Trillian's tree description holds at most %d", utf8.RuneCountInString(id), MaxTrialIDLength)
	case strings.ContainsFunc(id, unicode.IsControl):
		return fmt.Errorf("trial ID %q has control characters", id)
	}
	return nil
}

// Client is a connection to one Trillian log server (which serves both the
// log and the admin API).
type Client struct {
	conn   *grpc.ClientConn // nil when the caller owns the connection
	target string
	log    tpb.TrillianLogClient
	admin  tpb.TrillianAdminClient
	cfg    config

	mu      sync.Mutex
	writers map[int64]*Log // trees with an append under way or done
}

// Dial connects to the log server at target (HOST:PORT) and waits until
// the connection is up, so a wrong address fails here rather than at the
// first append. The connection is plain gRPC unless WithDialOptions adds
// transport credentials.
func Dial(ctx context.Context, target string, opts ...Option) (*Client, error) {
	cfg := defaultConfig()
	for _, o := range opts {
		o(&cfg)
	}
	dialOpts := append([]grpc.DialOption{
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(64 << 20)),
	}, cfg.dialOptions...)
	conn, err := grpc.NewClient(target, dialOpts...)
	if err != nil {
		return nil, fmt.Errorf("trillian %s: %w", target, err)
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, cfg.dialTimeout)
		defer cancel()
	}
	conn.Connect()
	for state := conn.GetState(); state != connectivity.Ready; state = conn.GetState() {
		if !conn.WaitForStateChange(ctx, state) {
			conn.Close()
			return nil, fmt.Errorf("trillian %s: cannot connect (last state %s): %w", target, state, ctx.Err())
		}
	}
	c := newClient(conn, target, cfg)
	c.conn = conn
	return c, nil
}

// NewClient wraps a connection the caller made (and closes).
func NewClient(conn grpc.ClientConnInterface, opts ...Option) *Client {
	cfg := defaultConfig()
	for _, o := range opts {
		o(&cfg)
	}
	return newClient(conn, "", cfg)
}

func newClient(conn grpc.ClientConnInterface, target string, cfg config) *Client {
	return &Client{
		target:  target,
		log:     tpb.NewTrillianLogClient(conn),
		admin:   tpb.NewTrillianAdminClient(conn),
		cfg:     cfg,
		writers: make(map[int64]*Log),
	}
}

// LogClient is the raw Trillian log API, for tools that need it (the
// benchmark's baseline); appends through it bypass every check here.
func (c *Client) LogClient() tpb.TrillianLogClient { return c.log }

// Close closes the connection if Dial made it.
func (c *Client) Close() error {
	if c.conn == nil {
		return nil
	}
	return c.conn.Close()
}

func (c *Client) where() string {
	if c.target == "" {
		return "trillian"
	}
	return "trillian " + c.target
}

// TrialTree is one trial's tree as listed by Trees.
type TrialTree struct {
	TrialID string
	TreeID  int64
	Created time.Time
}

// Trees lists every trialog tree of the deployment, oldest tree ID first.
func (c *Client) Trees(ctx context.Context) ([]TrialTree, error) {
	resp, err := c.admin.ListTrees(ctx, &tpb.ListTreesRequest{})
	if err != nil {
		return nil, fmt.Errorf("%s: list trees: %w", c.where(), err)
	}
	var out []TrialTree
	for _, t := range resp.GetTree() {
		if id, ok := TrialOfTree(t); ok {
			out = append(out, TrialTree{TrialID: id, TreeID: t.GetTreeId(), Created: t.GetCreateTime().AsTime()})
		}
	}
	slices.SortFunc(out, func(a, b TrialTree) int { return cmpInt64(a.TreeID, b.TreeID) })
	return out, nil
}

func cmpInt64(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// findTree returns the tree IDs of a trial, lowest first. Two trees for one
// trial only arise from a CreateTree race; the lowest ID is the trial's.
func (c *Client) findTree(ctx context.Context, trialID string) ([]int64, error) {
	trees, err := c.Trees(ctx)
	if err != nil {
		return nil, err
	}
	var ids []int64
	for _, t := range trees {
		if t.TrialID == trialID {
			ids = append(ids, t.TreeID)
		}
	}
	return ids, nil
}

// TreeID returns the ID of the trial's tree, or an error wrapping
// trillian.ErrNotFound.
func (c *Client) TreeID(ctx context.Context, trialID string) (int64, error) {
	if err := checkTrialID(trialID); err != nil {
		return 0, err
	}
	ids, err := c.findTree(ctx, trialID)
	if err != nil {
		return 0, err
	}
	if len(ids) == 0 {
		return 0, fmt.Errorf("%s: no tree for trial %q: %w", c.where(), trialID, trillian.ErrNotFound)
	}
	return ids[0], nil
}

// CreateTree creates and initialises the trial's tree. Creation and
// InitLog happen together: a created but uninitialised tree must never be
// queried (in v1.8.0 GetLatestSignedLogRoot on one leaks a PostgreSQL
// transaction). If InitLog fails the new tree is deleted again.
func (c *Client) CreateTree(ctx context.Context, trialID string) (*Log, error) {
	if err := checkTrialID(trialID); err != nil {
		return nil, err
	}
	ids, err := c.findTree(ctx, trialID)
	if err != nil {
		return nil, err
	}
	if len(ids) > 0 {
		return nil, fmt.Errorf("%s: trial %q: tree %d: %w", c.where(), trialID, ids[0], ErrTreeExists)
	}
	tree, err := c.admin.CreateTree(ctx, &tpb.CreateTreeRequest{Tree: &tpb.Tree{
		TreeState:   tpb.TreeState_ACTIVE,
		TreeType:    tpb.TreeType_PREORDERED_LOG,
		DisplayName: TreeDisplayName(trialID),
		Description: TreeDescription(trialID),
		// No periodic empty roots: a root changes only when leaves do.
		MaxRootDuration: durationpb.New(0),
	}})
	if err != nil {
		return nil, fmt.Errorf("%s: create tree for trial %q: %w", c.where(), trialID, err)
	}
	id := tree.GetTreeId()
	if err := c.initLog(ctx, id); err != nil {
		c.deleteTree(id)
		return nil, fmt.Errorf("%s: trial %q: tree %d: %w", c.where(), trialID, id, err)
	}
	// Another process may have created a tree for the trial at the same
	// time; the lowest ID wins and the loser removes its own.
	ids, err = c.findTree(ctx, trialID)
	if err != nil {
		return nil, err
	}
	if len(ids) > 0 && ids[0] != id {
		c.deleteTree(id)
		return nil, fmt.Errorf("%s: trial %q: tree %d created concurrently: %w", c.where(), trialID, ids[0], ErrTreeExists)
	}
	return c.open(ctx, id, trialID)
}

// deleteTree removes a tree this client just made and will not use. It
// runs on its own context: the caller's may be what failed.
func (c *Client) deleteTree(id int64) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, _ = c.admin.DeleteTree(ctx, &tpb.DeleteTreeRequest{TreeId: id})
}

// initLog stores the empty root of a new tree. AlreadyExists means it was
// initialised before, which is success.
func (c *Client) initLog(ctx context.Context, id int64) error {
	return c.retry(ctx, "init log", func(ctx context.Context) error {
		_, err := c.log.InitLog(ctx, &tpb.InitLogRequest{LogId: id})
		if status.Code(err) == codes.AlreadyExists {
			return nil
		}
		return err
	})
}

// OpenTree opens the trial's existing tree.
func (c *Client) OpenTree(ctx context.Context, trialID string) (*Log, error) {
	id, err := c.TreeID(ctx, trialID)
	if err != nil {
		return nil, err
	}
	return c.open(ctx, id, trialID)
}

// OpenOrCreateTree opens the trial's tree, creating it if there is none.
func (c *Client) OpenOrCreateTree(ctx context.Context, trialID string) (*Log, error) {
	l, err := c.OpenTree(ctx, trialID)
	if errors.Is(err, trillian.ErrNotFound) {
		l, err = c.CreateTree(ctx, trialID)
		if errors.Is(err, ErrTreeExists) { // Lost a creation race.
			return c.OpenTree(ctx, trialID)
		}
	}
	return l, err
}

// OpenTreeByID opens a PREORDERED_LOG tree by its Trillian tree ID.
func (c *Client) OpenTreeByID(ctx context.Context, id int64) (*Log, error) {
	tree, err := c.admin.GetTree(ctx, &tpb.GetTreeRequest{TreeId: id})
	if status.Code(err) == codes.NotFound {
		return nil, fmt.Errorf("%s: tree %d: %w", c.where(), id, trillian.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: tree %d: %w", c.where(), id, err)
	}
	if tree.GetTreeType() != tpb.TreeType_PREORDERED_LOG {
		return nil, fmt.Errorf("%s: tree %d is a %s, want PREORDERED_LOG", c.where(), id, tree.GetTreeType())
	}
	trial, _ := TrialOfTree(tree)
	return c.open(ctx, id, trial)
}

// open makes sure the tree is initialised before anything queries it (a
// tree left uninitialised by a crash between CreateTree and InitLog is
// finished here), then reads and verifies its root.
func (c *Client) open(ctx context.Context, id int64, trialID string) (*Log, error) {
	if err := c.initLog(ctx, id); err != nil {
		return nil, fmt.Errorf("%s: tree %d: %w", c.where(), id, err)
	}
	l := newLog(c, id, trialID)
	if _, err := l.LatestRoot(ctx); err != nil {
		return nil, err
	}
	return l, nil
}

// OpenURL dials rawURL (trillian://HOST:PORT) and opens the trial's tree,
// creating it first when create is set and it does not exist. The returned
// Log owns the connection: its Close closes it.
func OpenURL(ctx context.Context, rawURL, trialID string, create bool, opts ...Option) (*Log, error) {
	target, err := ParseURL(rawURL)
	if err != nil {
		return nil, err
	}
	c, err := Dial(ctx, target, opts...)
	if err != nil {
		return nil, err
	}
	var l *Log
	if create {
		l, err = c.OpenOrCreateTree(ctx, trialID)
	} else {
		l, err = c.OpenTree(ctx, trialID)
	}
	if err != nil {
		c.Close()
		return nil, err
	}
	l.ownsClient = true
	return l, nil
}

// acquireWriter reserves the tree for l's appends. Trillian has no lock a
// client could take, so a second writer is refused only within this
// Client; across processes, an interleaved writer is caught by the
// per-leaf conflict checks and the post-append verification.
func (c *Client) acquireWriter(l *Log) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if w, ok := c.writers[l.treeID]; ok && w != l {
		return fmt.Errorf("%s: tree %d: %w", c.where(), l.treeID, ErrWriterBusy)
	}
	c.writers[l.treeID] = l
	return nil
}

func (c *Client) releaseWriter(l *Log) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.writers[l.treeID] == l {
		delete(c.writers, l.treeID)
	}
}
