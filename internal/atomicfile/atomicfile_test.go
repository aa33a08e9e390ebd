package atomicfile

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestWrite(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "f")
	for _, content := range []string{"first", "second, longer"} {
		if err := Write(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != content {
			t.Errorf("content = %q, want %q", got, content)
		}
	}
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("mode = %v, want 0600", fi.Mode().Perm())
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("directory holds %d entries, want only the file (no temporaries)", len(entries))
	}
}

func TestWriteMissingDir(t *testing.T) {
	if err := Write(filepath.Join(t.TempDir(), "no", "such"), []byte("x"), 0o600); err == nil {
		t.Fatal("writing into a missing directory succeeded")
	}
}

// TestWriteFrom: what write writes replaces the file; a write that fails
// leaves the file as it was, returns its own error, and leaves no
// temporary file.
func TestWriteFrom(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "bin")
	if err := WriteFrom(p, 0o755, func(w io.Writer) error {
		_, err := io.Copy(w, strings.NewReader("a streamed build"))
		return err
	}); err != nil {
		t.Fatal(err)
	}
	errStream := errors.New("stream cut")
	if err := WriteFrom(p, 0o755, func(w io.Writer) error {
		_, _ = w.Write([]byte("half of a"))
		return errStream
	}); err != errStream {
		t.Errorf("WriteFrom with a failing write = %v, want its error as it is", err)
	}
	got, err := os.ReadFile(p)
	if err != nil || string(got) != "a streamed build" {
		t.Errorf("content = %q (%v), want the first write's", got, err)
	}
	if fi, err := os.Stat(p); err != nil || fi.Mode().Perm() != 0o755 {
		t.Errorf("mode = %v (%v), want 0755", fi.Mode().Perm(), err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("directory holds %d entries, want only the file (no temporaries)", len(entries))
	}
}

// TestWriteFromUnwritableDir: a directory that cannot take the file fails
// before write is called.
func TestWriteFromUnwritableDir(t *testing.T) {
	called := false
	err := WriteFrom(filepath.Join(t.TempDir(), "no", "such"), 0o600, func(io.Writer) error {
		called = true
		return nil
	})
	if err == nil || called {
		t.Errorf("WriteFrom into a missing directory = %v, write called %t; want an error before write", err, called)
	}
}
