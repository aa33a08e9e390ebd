package bundle

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
)

// FileTooLargeError refuses a file past a size limit before it is read.
type FileTooLargeError struct {
	Size, Limit int64
}

func (e *FileTooLargeError) Error() string {
	return fmt.Sprintf("file has %d bytes, more than the %d allowed", e.Size, e.Limit)
}

// File is a regular file of the checkout, open for reading: its size is
// known before a byte of it is read. Close it.
type File struct {
	f    *os.File
	name string // slash-separated, relative to the checkout root
	size int64
}

// Open opens the regular file at rel, following symlinks inside the
// checkout. Errors are Resolve's when it explains them.
func (c *Checkout) Open(rel string) (*File, error) {
	clean, err := CleanRel(rel)
	if err != nil {
		return nil, err
	}
	f, err := openFile(c.root, filepath.FromSlash(clean), clean)
	if err != nil {
		return nil, c.explain(clean, err)
	}
	return f, nil
}

// openFile opens name in dir, confined to dir, and checks it is a regular
// file; rel names it in errors.
func openFile(dir *os.Root, name, rel string) (*File, error) {
	// Non-blocking, so that opening a FIFO does not wait for a writer; it
	// changes nothing for a regular file.
	f, err := dir.OpenFile(name, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, err
	}
	// The open file's own Stat: what is read is what was measured.
	info, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("reading %s: %w", rel, hostless(err))
	}
	if !info.Mode().IsRegular() {
		f.Close()
		return nil, fmt.Errorf("%s is not a regular file", rel)
	}
	return &File{f: f, name: rel, size: info.Size()}, nil
}

// Size is the file's size when it was opened.
func (f *File) Size() int64 { return f.size }

// ReadAll reads the whole file, refusing one larger than limit
// (*FileTooLargeError), without reading it if its size says so.
func (f *File) ReadAll(limit int64) ([]byte, error) {
	if f.size > limit {
		return nil, &FileTooLargeError{Size: f.size, Limit: limit}
	}
	// The file may grow after it was opened: never read past the limit.
	data := make([]byte, 0, f.size+1)
	data, err := readAll(io.LimitReader(f.f, limit+1), data)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", f.name, hostless(err))
	}
	if int64(len(data)) > limit {
		return nil, &FileTooLargeError{Size: int64(len(data)), Limit: limit}
	}
	return data, nil
}

// readAll is io.ReadAll into b, whose capacity the file's size set: one
// allocation for a file that did not grow.
func readAll(r io.Reader, b []byte) ([]byte, error) {
	for {
		n, err := r.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if err == io.EOF {
			return b, nil
		}
		if err != nil {
			return b, err
		}
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)]
		}
	}
}

// Close closes the file.
func (f *File) Close() error { return f.f.Close() }

// ReadFile reads the regular file at rel, following symlinks inside the
// checkout, refusing one larger than limit (*FileTooLargeError) without
// reading it. Errors are Resolve's when it explains them.
func (c *Checkout) ReadFile(rel string, limit int64) ([]byte, error) {
	f, err := c.Open(rel)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return f.ReadAll(limit)
}

// hostless strips the path from an error of an open file: the os.File
// names itself by its host path, which messages never show.
func hostless(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return fmt.Errorf("%s: %w", pe.Op, pe.Err)
	}
	return err
}
