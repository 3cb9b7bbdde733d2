// Package durable holds the few file operations that trialog's promise
// "everything durable before it is acknowledged" rests on: atomic
// replacement, directory fsync, durable removal, and the SHA-256 of a
// file. One copy, used by the workspace, the embedded log, ingest, prove
// and consent, so the crash-safety rules are written down once.
package durable

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// WriteFile replaces path with data durably: a crash leaves either the
// old or the new content, never a torn file (temp file in the same
// directory, fsync, rename, fsync of the directory).
func WriteFile(path string, data []byte, mode os.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	return Commit(tmp, path, mode)
}

// Commit makes a fully written temporary file durable under its final
// name: chmod, fsync, close, rename over path, fsync of the directory.
// The temporary file must be in path's directory.
func Commit(tmp *os.File, path string, mode os.FileMode) error {
	if err := tmp.Chmod(mode); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	return SyncDir(filepath.Dir(path))
}

// SyncDir fsyncs a directory, making the creation, renaming or removal of
// its entries durable.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// Remove deletes path, if it exists, durably.
func Remove(path string) error {
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return SyncDir(filepath.Dir(path))
}

// FileSHA256 returns the lowercase hex SHA-256 of a file's content.
func FileSHA256(ctx context.Context, path string) (string, error) {
	fh, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer fh.Close()
	h := sha256.New()
	if _, err := io.Copy(h, readerCtx{ctx, fh}); err != nil {
		return "", fmt.Errorf("%s: %w", filepath.Base(path), err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// readerCtx stops a long read when its context is cancelled.
type readerCtx struct {
	ctx context.Context
	r   io.Reader
}

func (r readerCtx) Read(p []byte) (int, error) {
	if err := r.ctx.Err(); err != nil {
		return 0, err
	}
	return r.r.Read(p)
}
