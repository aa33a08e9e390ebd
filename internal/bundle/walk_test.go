package bundle

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestEntryFleetFile answers from the walk's listing what fleetFileIn
// answers by statting paths, for every kind of entry named fleet.yaml.
func TestEntryFleetFile(t *testing.T) {
	outside := t.TempDir()
	writeTree(t, outside, map[string]string{"fleet.yaml": ""})
	tests := []struct {
		name  string
		files map[string]string // under d/
		fifo  string            // a FIFO of that name under d/
		want  string
	}{
		{name: "none", files: map[string]string{"cm.yaml": ""}, want: ""},
		{name: "fleet.yaml", files: map[string]string{"fleet.yaml": ""}, want: "fleet.yaml"},
		{name: "fleet.yml", files: map[string]string{"fleet.yml": ""}, want: "fleet.yml"},
		{name: "both: fleet.yaml wins", files: map[string]string{"fleet.yaml": "", "fleet.yml": ""}, want: "fleet.yaml"},
		{name: "a directory is no fleet file", files: map[string]string{"fleet.yaml/x": "", "fleet.yml": ""}, want: "fleet.yml"},
		{name: "link inside", files: map[string]string{"fleet.yaml": "-> ../shared.yaml"}, want: "fleet.yaml"},
		{name: "link to a directory", files: map[string]string{"fleet.yaml": "-> ../dir"}, want: ""},
		{name: "link outside, so the bundle reports it", files: map[string]string{"fleet.yaml": "-> " + filepath.Join(outside, "fleet.yaml")}, want: "fleet.yaml"},
		{name: "dangling link", files: map[string]string{"fleet.yaml": "-> missing"}, want: ""},
		{name: "fifo, refused when read", fifo: "fleet.yaml", want: "fleet.yaml"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := t.TempDir()
			writeTree(t, root, map[string]string{"shared.yaml": "", "dir/x": "", "d/.keep": ""})
			writeTree(t, filepath.Join(root, "d"), tt.files)
			if tt.fifo != "" {
				if err := syscall.Mkfifo(filepath.Join(root, "d", tt.fifo), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			c, err := OpenCheckout(root)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			got := "(not visited)"
			err = c.Walk(".", WalkOptions{}, func(e Entry) error {
				if e.Path == "d" {
					got = e.FleetFile()
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("FleetFile = %q, want %q", got, tt.want)
			}
			if byPath := fleetFileIn(c, "d"); byPath != got {
				t.Errorf("FleetFile = %q, but fleetFileIn = %q", got, byPath)
			}
		})
	}
}

// TestWalkChangedUnderneath changes the tree while fn runs, between the
// listing and the open that follows it: whatever a plain file or
// directory became, nothing outside the checkout is read or listed, and
// a file that became a link inside it is still read.
func TestWalkChangedUnderneath(t *testing.T) {
	tests := []struct {
		name    string
		swap    string // app/<swap> is replaced while fn sees it
		target  string // by a link to this ("<outside>" for the outside dir)
		want    string // what Open reads, for a file
		wantErr string
	}{
		{name: "file to a link inside", swap: "cm.yaml", target: "../shared/cm.yaml", want: "shared"},
		{name: "file to a link outside", swap: "cm.yaml", target: "<outside>/secret.yaml", wantErr: "app/cm.yaml leads outside the checkout"},
		{name: "file to a chain leading outside", swap: "cm.yaml", target: "../b/outside/secret.yaml", wantErr: "app/cm.yaml leads outside the checkout"},
		{name: "directory to a link outside", swap: "sub", target: "<outside>", wantErr: "reading directory app/sub: app/sub leads outside the checkout"},
		{name: "directory to a chain leading outside", swap: "sub", target: "../b/outside", wantErr: "reading directory app/sub: app/sub leads outside the checkout"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			base := t.TempDir()
			root, outside := filepath.Join(base, "checkout"), filepath.Join(base, "outside")
			writeTree(t, outside, map[string]string{"secret.yaml": "secret", "x.yaml": "secret"})
			writeTree(t, root, map[string]string{
				"app/cm.yaml":    "app",
				"app/sub/x.yaml": "sub",
				"shared/cm.yaml": "shared",
				"a":              "-> .",
				"b":              "-> a/..",
			})
			target := strings.ReplaceAll(tt.target, "<outside>", outside)
			c, err := OpenCheckout(root)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			var read []string
			var openErr error
			err = c.Walk("app", WalkOptions{}, func(e Entry) error {
				if e.Path == "app/"+tt.swap {
					p := filepath.Join(root, "app", tt.swap)
					if err := os.RemoveAll(p); err != nil {
						t.Fatal(err)
					}
					if err := os.Symlink(target, p); err != nil {
						t.Fatal(err)
					}
				}
				if e.Dir || e.Err != nil {
					return nil
				}
				f, err := e.Open()
				if err != nil {
					openErr = err
					return nil
				}
				defer f.Close()
				data, err := f.ReadAll(100)
				if err != nil {
					t.Fatal(err)
				}
				read = append(read, e.Path+"="+string(data))
				return nil
			})
			for _, r := range read {
				if strings.HasSuffix(r, "=secret") {
					t.Fatalf("read %s from outside the checkout", r)
				}
			}
			if tt.wantErr == "" {
				if err != nil || openErr != nil {
					t.Fatalf("Walk = %v, Open = %v", err, openErr)
				}
				if want := "app/" + tt.swap + "=" + tt.want; !strings.Contains(strings.Join(read, " "), want) {
					t.Errorf("read %q, want %q among them", read, want)
				}
				return
			}
			if err == nil {
				err = openErr
			}
			if err == nil || !strings.HasPrefix(err.Error(), tt.wantErr) {
				t.Fatalf("error = %v, want prefix %q", err, tt.wantErr)
			}
			t.Logf("error: %v", err)
			if strings.Contains(err.Error(), base) {
				t.Errorf("error %q names the host path", err)
			}
		})
	}
}

// TestEntryOpenAfterWalk: an entry kept past its walk still opens, by its
// path, through the os.Root.
func TestEntryOpenAfterWalk(t *testing.T) {
	root, _ := hostileTree(t)
	c, err := OpenCheckout(root)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var kept []Entry
	err = c.Walk("app", WalkOptions{}, func(e Entry) error {
		if !e.Dir && e.Err == nil {
			kept = append(kept, e)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range kept {
		data, err := readEntry(e)
		if err != nil {
			t.Fatalf("%s: %v", e.Path, err)
		}
		got = append(got, e.Path+"="+string(data))
	}
	// app/up leads to the root, which holds app again.
	want := []string{
		"app/cm.yaml=kind: ConfigMap\n", "app/fleet.yaml=", "app/link.yaml=kind: ConfigMap\n", "app/sub/deep.yml=kind: X\n",
		"app/up/app/cm.yaml=kind: ConfigMap\n", "app/up/app/fleet.yaml=", "app/up/app/link.yaml=kind: ConfigMap\n", "app/up/app/sub/deep.yml=kind: X\n",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("read after the walk (-want +got):\n%s", diff)
	}
	if _, err := (Entry{Path: "app/cm.yaml"}).Open(); err == nil {
		t.Error("an Entry not made by Walk opened")
	}
}

func readEntry(e Entry) ([]byte, error) {
	f, err := e.Open()
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return f.ReadAll(1 << 20)
}

// TestWalkSymlinkedDirectories walks into directories through links
// inside the checkout, reading their files, and stops at links back to a
// directory being walked, however they are spelled.
func TestWalkSymlinkedDirectories(t *testing.T) {
	root := t.TempDir()
	writeTree(t, root, map[string]string{
		"base/cm.yaml":    "base",
		"base/back":       "-> ../app",   // app is being walked when base is walked through app/base
		"app/base":        "-> ../base",  // a link to a sibling: walked
		"app/self":        "-> ../app/.", // a loop, spelled another way
		"app/deep/up":     "-> ../..",    // the root: a loop
		"app/deep/x.yaml": "x",
	})
	c, err := OpenCheckout(root)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var got []string
	err = c.Walk("app", WalkOptions{}, func(e Entry) error {
		s := e.Path
		switch {
		case e.Err != nil:
			s += ": " + e.Err.Error()
		case !e.Dir:
			data, err := readEntry(e)
			if err != nil {
				t.Fatalf("%s: %v", e.Path, err)
			}
			s += "=" + string(data)
		}
		got = append(got, s)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// The root is not being walked when app/deep/up is met, so it is
	// walked once, app again in it, as before Walk kept directories open.
	want := []string{
		"app/base",
		"app/base/back: symlink loops",
		"app/base/cm.yaml=base",
		"app/deep",
		"app/deep/up",
		"app/deep/up/app",
		"app/deep/up/app/base",
		"app/deep/up/app/base/back: symlink loops",
		"app/deep/up/app/base/cm.yaml=base",
		"app/deep/up/app/deep",
		"app/deep/up/app/deep/up: symlink loops",
		"app/deep/up/app/deep/x.yaml=x",
		"app/deep/up/app/self: symlink loops",
		"app/deep/up/base",
		"app/deep/up/base/back: symlink loops",
		"app/deep/up/base/cm.yaml=base",
		"app/deep/x.yaml=x",
		"app/self: symlink loops",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Walk (-want +got):\n%s", diff)
	}
	err = c.Walk("app/deep/x.yaml", WalkOptions{}, nil)
	if want := "walking app/deep/x.yaml: not a directory"; err == nil || err.Error() != want {
		t.Errorf("Walk of a file = %v, want %q", err, want)
	}
}

// TestWalkLinkedBudget: directories each holding two links to the next
// make a walk that meets each directory once per path to it; past its
// budget of entries met through links, the walk stops with an error.
func TestWalkLinkedBudget(t *testing.T) {
	root := t.TempDir()
	files := map[string]string{"d3/f": ""}
	for i := range 3 {
		for _, l := range []string{"a", "b"} {
			files[fmt.Sprintf("d%d/%s", i, l)] = fmt.Sprintf("-> ../d%d", i+1)
		}
	}
	writeTree(t, root, files)
	c, err := OpenCheckout(root)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	// The 11 entries on disk, and through the links: d3 (1 entry) behind
	// each of d2's 2 links, d2 (2+2x1) behind d1's, d1 (2+2x4) behind
	// d0's: 2x10 + 2x4 + 2x1.
	const linked = 30
	tests := []struct {
		max     int
		want    int // entries met
		wantErr string
	}{
		{max: linked, want: 11 + linked},
		{max: linked - 1, wantErr: "walking .: more than 29 entries met through symlinks to directories, which the walk enters once per path to them"},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.max), func(t *testing.T) {
			n := 0
			err := c.Walk(".", WalkOptions{MaxLinkedEntries: tt.max}, func(Entry) error { n++; return nil })
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Fatalf("Walk = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || n != tt.want {
				t.Fatalf("Walk met %d entries, err %v; want %d and no error", n, err, tt.want)
			}
		})
	}
}

// TestDiscoverLinkedBudget: 101 links to one directory of 200 files make
// discovery's walk meet 20,200 entries through links, past the default
// budget, which flotilla render and the hub's older checkouts meet too.
func TestDiscoverLinkedBudget(t *testing.T) {
	root := t.TempDir()
	files := map[string]string{}
	for i := range 200 {
		files[fmt.Sprintf("big/f%03d", i)] = ""
	}
	for i := range 101 {
		files[fmt.Sprintf("l%03d", i)] = "-> big"
	}
	writeTree(t, root, files)
	_, err := Discover(root, nil)
	want := `discovering bundles under ".": walking .: more than 20000 entries met through symlinks to directories`
	if err == nil || !strings.HasPrefix(err.Error(), want) {
		t.Fatalf("Discover = %v, want prefix %q", err, want)
	}
}
