package containerd

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/mtscn/mtscn/pkg/node/hostpath"
)

// Limits on what the reader accepts from the host.
const (
	// MaxFileBytes bounds each config file (containerd's are a few KiB).
	MaxFileBytes = 1 << 20
	// MaxFiles bounds the files of one chain (an import loop through
	// ever-new paths, or a glob over a huge directory).
	MaxFiles = 256
)

// DefaultWorkDir is containerd 1.x's working directory under systemd, the
// base of its relative import globs.
const DefaultWorkDir = "/"

// Options says whose rules to apply and where the host is.
type Options struct {
	// Root is where the host's / is mounted ("" or "/" on the host).
	Root hostpath.Root
	// Major is the major version of the containerd that reads the chain
	// (1 or 2). 0 infers it from the main file: version 3 is read only by
	// containerd 2.x, anything else is taken as 1.x.
	Major int
	// WorkDir is containerd 1.x's working directory (host path), against
	// which it resolves relative import globs. Default DefaultWorkDir.
	WorkDir string
	// Skip is a host path not to load (the installer's own drop-in, whose
	// next content it is planning).
	Skip string
}

// File is one file of the chain, in containerd's load order.
type File struct {
	// Path is the host path as containerd names it (a symlink stays a
	// symlink here: relative imports resolve against its directory).
	Path string
	// Real is the host path of the file actually read (symlinks resolved
	// inside the host root); write here to change the file in place.
	Real string
	// Data is the file's content and Doc its decoded TOML.
	Data []byte
	Doc  map[string]any
	// Mode, UID and GID are the real file's permissions and owner.
	Mode     fs.FileMode
	UID, GID int
}

// Chain is containerd's configuration as containerd loads it.
type Chain struct {
	// Files in load order; Files[0] is the main file. Empty when the main
	// file does not exist.
	Files []File
	// Version is the main file's config version (0 when absent).
	Version int
	// Major is the containerd major version whose rules were applied.
	Major int
	// Missing lists explicit imports that do not exist: containerd fails to
	// start on them.
	Missing []string
}

// InferMajor is the containerd major version assumed for a config version
// when nothing better is known: only containerd 2.x reads version 3.
func InferMajor(version int) int {
	if version >= 3 {
		return 2
	}
	return 1
}

// ResolveImport resolves one imports entry of the file parent (a host path)
// as containerd of the given major version does. It returns a host path or,
// when glob is true, a glob pattern over host paths.
func ResolveImport(parent, imp string, major int, workDir string) (p string, glob bool) {
	if workDir == "" {
		workDir = DefaultWorkDir
	}
	if strings.Contains(imp, "*") {
		if major >= 2 {
			p = path.Clean(imp)
			if !path.IsAbs(p) {
				p = path.Join(path.Dir(parent), p)
			}
			return p, true
		}
		// containerd 1.x: filepath.Glob(imp) as written, relative to its
		// working directory.
		if !path.IsAbs(imp) {
			return path.Join(workDir, imp), true
		}
		return path.Clean(imp), true
	}
	p = path.Clean(imp)
	if !path.IsAbs(p) {
		p = path.Join(path.Dir(parent), p)
	}
	return p, false
}

// Load reads the chain that starts at the host path config. A missing main
// file gives an empty chain and an error wrapping fs.ErrNotExist. Problems
// further down (a missing import, a file that does not parse, a bad glob)
// are joined into the error while the rest of the chain is still read, so
// that discovery can report what it can; the installer refuses on any
// error.
func Load(config string, o Options) (*Chain, error) {
	if o.WorkDir == "" {
		o.WorkDir = DefaultWorkDir
	}
	c := &Chain{}
	var errs []error
	loaded := map[string]bool{}
	pending := []string{path.Clean(config)}
	for len(pending) > 0 {
		p := pending[0]
		pending = pending[1:]
		if loaded[p] {
			continue
		}
		loaded[p] = true
		if o.Skip != "" && p == path.Clean(o.Skip) {
			continue
		}
		if len(c.Files) >= MaxFiles {
			errs = append(errs, fmt.Errorf("containerd's configuration %s imports more than %d files; not reading %s and the rest", config, MaxFiles, p))
			break
		}
		f, err := readFile(o.Root, p)
		if err != nil {
			if len(c.Files) == 0 {
				return c, err
			}
			if errors.Is(err, fs.ErrNotExist) {
				c.Missing = append(c.Missing, p)
				errs = append(errs, fmt.Errorf("%s imports %s, which does not exist (containerd will not start): %w", c.Files[len(c.Files)-1].Path, p, err))
				continue
			}
			errs = append(errs, err)
			continue
		}
		if len(c.Files) == 0 {
			v, err := Version(p, f.Doc)
			if err != nil {
				return c, err
			}
			c.Version = v
			c.Major = o.Major
			if c.Major == 0 {
				c.Major = InferMajor(v)
			}
		}
		c.Files = append(c.Files, *f)
		imports, err := StringList(p, "imports", f.Doc["imports"])
		if err != nil {
			errs = append(errs, err)
			continue
		}
		for _, imp := range imports {
			rp, glob := ResolveImport(p, imp, c.Major, o.WorkDir)
			if !glob {
				pending = append(pending, rp)
				continue
			}
			matches, err := filepath.Glob(o.Root.Path(rp))
			if err != nil {
				errs = append(errs, fmt.Errorf("%s: imports entry %q is not a valid glob: %w", p, imp, err))
				continue
			}
			for _, m := range matches {
				hp, err := o.Root.Rel(m)
				if err != nil {
					errs = append(errs, err)
					continue
				}
				pending = append(pending, hp)
			}
		}
	}
	return c, errors.Join(errs...)
}

// readFile reads one host config file through symlinks, bounded.
func readFile(root hostpath.Root, p string) (*File, error) {
	real, err := root.Resolve(p)
	if err != nil {
		return nil, err
	}
	data, err := hostpath.ReadFile(root.Path(real), MaxFileBytes)
	if err != nil {
		return nil, fmt.Errorf("reading containerd configuration %s: %w", p, err)
	}
	doc, err := Parse(p, data)
	if err != nil {
		return nil, err
	}
	f := &File{Path: p, Real: real, Data: data, Doc: doc}
	if fi, err := os.Stat(root.Path(real)); err == nil {
		f.Mode = fi.Mode().Perm()
		if st, ok := fi.Sys().(*syscall.Stat_t); ok {
			f.UID, f.GID = int(st.Uid), int(st.Gid)
		}
	}
	return f, nil
}

// Plugins returns the plugins table containerd runs with, merged by the
// chain's rule: containerd 1.x replaces a plugin's whole table with each
// later file's, containerd 2.x merges them key by key.
func (c *Chain) Plugins() map[string]any {
	return MergePlugins(c.Docs(), c.Major)
}

// Docs returns the decoded files in load order.
func (c *Chain) Docs() []map[string]any {
	docs := make([]map[string]any, len(c.Files))
	for i, f := range c.Files {
		docs[i] = f.Doc
	}
	return docs
}

// MergePlugins merges the plugins tables of docs (in load order) by the
// rule of containerd's major version.
func MergePlugins(docs []map[string]any, major int) map[string]any {
	out := map[string]any{}
	for _, d := range docs {
		for id, sec := range Table(d, "plugins") {
			if major >= 2 {
				if dst, ok := out[id].(map[string]any); ok {
					if src, ok := sec.(map[string]any); ok {
						DeepMerge(dst, src)
						continue
					}
				}
			}
			out[id] = DeepCopy(sec)
		}
	}
	return out
}

// Runtimes returns the CRI runtimes table the files define, merged (nil
// when no file defines one: containerd then serves its built-in default,
// runc). Runtimes under every config version's CRI plugin are included.
func (c *Chain) Runtimes() map[string]any {
	plugins := c.Plugins()
	var out map[string]any
	for _, id := range []string{PluginCRIv1, PluginCRIv2, PluginCRIv3} {
		if rt := Table(plugins, id, "containerd", "runtimes"); rt != nil {
			if out == nil {
				out = map[string]any{}
			}
			for k, v := range rt {
				out[k] = v
			}
		}
	}
	return out
}

// DefaultRuntimeName is the CRI's default_runtime_name ("runc" unless set).
func (c *Chain) DefaultRuntimeName() string {
	plugins := c.Plugins()
	for _, id := range []string{PluginCRIv3, PluginCRIv2, PluginCRIv1} {
		if n, ok := Table(plugins, id, "containerd")["default_runtime_name"].(string); ok && n != "" {
			return n
		}
	}
	return "runc"
}

// LastDefining returns the index of the last file whose plugins table
// defines plugin (-1 when none does). On containerd 1.x that file's table is
// the one containerd runs with.
func (c *Chain) LastDefining(plugin string) int {
	last := -1
	for i, f := range c.Files {
		if Table(f.Doc, "plugins", plugin) != nil {
			last = i
		}
	}
	return last
}

// Covers reports whether an imports entry of the file parent loads the
// host path file, by the rule of containerd's major version. It does not
// check that file exists.
func Covers(parent, imp, file string, major int, workDir string) bool {
	p, glob := ResolveImport(parent, imp, major, workDir)
	if !glob {
		return p == path.Clean(file)
	}
	ok, err := path.Match(p, path.Clean(file))
	return err == nil && ok
}
