package install

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"path/filepath"
	"sort"
	"strings"
)

// Where the Kata artifacts keep their shims' configurations and binaries,
// relative to the artifacts (and install) directory, as in Kata's release
// tarball: the Go runtime's configurations next to bin/, runtime-rs's in a
// subdirectory with its own binary.
const (
	goConfigDir       = "share/defaults/kata-containers"
	goShimBinary      = "bin/containerd-shim-kata-v2"
	rustConfigDir     = "share/defaults/kata-containers/runtime-rs"
	rustShimBinary    = "runtime-rs/bin/containerd-shim-kata-v2"
	stageSuffix       = ".mtscn-stage"
	oldSuffix         = ".mtscn-old"
	configFilePrefix  = "configuration-"
	configFileSuffix  = ".toml"
	kataHandlerPrefix = "kata-"
)

// Shim is one Kata shim and the handler that runs it.
type Shim struct {
	// Name is the shim (qemu, clh, qemu-runtime-rs, ...).
	Name string
	// BinaryPath is the shim binary on the host (in the install dir).
	BinaryPath string
	// ConfigPath is the shim's Kata configuration on the host.
	ConfigPath string
}

// Handler is the containerd runtime handler (and RuntimeClass handler).
func (s Shim) Handler() string { return kataHandlerPrefix + s.Name }

// discoverShims lists the shims the artifacts provide, or checks that the
// requested ones exist.
func (in *Installer) discoverShims() ([]Shim, error) {
	found := map[string]Shim{}
	for _, layout := range []struct{ configDir, binary string }{{goConfigDir, goShimBinary}, {rustConfigDir, rustShimBinary}} {
		entries, err := in.ops.ReadDir(filepath.Join(in.opts.ArtifactsDir, layout.configDir))
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("reading the artifacts (--artifacts): %w", err)
		}
		for _, e := range entries {
			n := e.Name()
			if e.IsDir() || !strings.HasPrefix(n, configFilePrefix) || !strings.HasSuffix(n, configFileSuffix) {
				continue
			}
			name := strings.TrimSuffix(strings.TrimPrefix(n, configFilePrefix), configFileSuffix)
			if _, dup := found[name]; dup || !shimName.MatchString(name) {
				continue
			}
			if _, err := in.ops.Lstat(filepath.Join(in.opts.ArtifactsDir, layout.binary)); err != nil {
				return nil, fmt.Errorf("the artifacts in %s have %s but no shim binary %s: %w", in.opts.ArtifactsDir, path.Join(layout.configDir, n), layout.binary, err)
			}
			found[name] = Shim{
				Name:       name,
				BinaryPath: path.Join(in.opts.InstallDir, layout.binary),
				ConfigPath: path.Join(in.opts.InstallDir, layout.configDir, n),
			}
		}
	}
	var shims []Shim
	if len(in.opts.Shims) == 0 {
		for _, s := range found {
			shims = append(shims, s)
		}
		sort.Slice(shims, func(i, j int) bool { return shims[i].Name < shims[j].Name })
		if len(shims) == 0 {
			return nil, fmt.Errorf("no Kata shim configuration (%s/%s<shim>%s) in --artifacts=%s; point --artifacts at an extracted Kata release", goConfigDir, configFilePrefix, configFileSuffix, in.opts.ArtifactsDir)
		}
		return shims, nil
	}
	for _, name := range in.opts.Shims {
		s, ok := found[name]
		if !ok {
			return nil, fmt.Errorf("--shims: the artifacts in %s have no %s%s%s; remove %q from --shims or use other artifacts", in.opts.ArtifactsDir, configFilePrefix, name, configFileSuffix, name)
		}
		shims = append(shims, s)
	}
	return shims, nil
}

// treeEntry is one file, directory or symlink of a tree.
type treeEntry struct {
	mode   fs.FileMode
	target string // symlinks
}

func (in *Installer) walkTree(root string) (map[string]treeEntry, error) {
	out := map[string]treeEntry{}
	var walk func(rel string) error
	walk = func(rel string) error {
		entries, err := in.ops.ReadDir(filepath.Join(root, rel))
		if err != nil {
			return err
		}
		for _, e := range entries {
			r := path.Join(rel, e.Name())
			p := filepath.Join(root, r)
			fi, err := in.ops.Lstat(p)
			if err != nil {
				return err
			}
			te := treeEntry{mode: fi.Mode()}
			switch {
			case fi.IsDir():
				te.mode = fs.ModeDir
				out[r] = te
				if err := walk(r); err != nil {
					return err
				}
				continue
			case fi.Mode()&fs.ModeSymlink != 0:
				if te.target, err = in.ops.Readlink(p); err != nil {
					return err
				}
			case !fi.Mode().IsRegular():
				return fmt.Errorf("%s: only files, directories and symlinks can be installed", p)
			}
			out[r] = te
		}
		return nil
	}
	if err := walk(""); err != nil {
		return nil, err
	}
	return out, nil
}

// treesEqual reports whether the install dir holds exactly the artifacts.
func (in *Installer) treesEqual(src, dst string) (bool, error) {
	if _, err := in.ops.Lstat(dst); errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	a, err := in.walkTree(src)
	if err != nil {
		return false, fmt.Errorf("reading the artifacts %s: %w", src, err)
	}
	b, err := in.walkTree(dst)
	if err != nil {
		return false, fmt.Errorf("reading the install dir %s: %w", dst, err)
	}
	if len(a) != len(b) {
		return false, nil
	}
	for rel, ea := range a {
		eb, ok := b[rel]
		if !ok || ea != eb {
			return false, nil
		}
		if ea.mode.IsRegular() {
			same, err := in.sameContent(filepath.Join(src, rel), filepath.Join(dst, rel))
			if err != nil || !same {
				return false, err
			}
		}
	}
	return true, nil
}

func (in *Installer) sameContent(a, b string) (bool, error) {
	fa, err := in.ops.Open(a)
	if err != nil {
		return false, err
	}
	defer fa.Close()
	fb, err := in.ops.Open(b)
	if err != nil {
		return false, err
	}
	defer fb.Close()
	const chunk = 32 << 10
	ba, bb := make([]byte, chunk), make([]byte, chunk)
	for {
		na, erra := io.ReadFull(fa, ba)
		nb, errb := io.ReadFull(fb, bb)
		if na != nb || !bytes.Equal(ba[:na], bb[:nb]) {
			return false, nil
		}
		if erra != nil || errb != nil {
			if (erra == io.EOF || erra == io.ErrUnexpectedEOF) && (errb == io.EOF || errb == io.ErrUnexpectedEOF) {
				return true, nil
			}
			if erra != nil && erra != io.EOF && erra != io.ErrUnexpectedEOF {
				return false, erra
			}
			if errb != nil && errb != io.EOF && errb != io.ErrUnexpectedEOF {
				return false, errb
			}
			return false, nil
		}
	}
}

// copyTree copies the artifacts into a new directory dst.
func (in *Installer) copyTree(src, dst string) error {
	tree, err := in.walkTree(src)
	if err != nil {
		return fmt.Errorf("reading the artifacts %s: %w", src, err)
	}
	rels := make([]string, 0, len(tree))
	for rel := range tree {
		rels = append(rels, rel)
	}
	sort.Strings(rels) // parents before children
	if err := in.ops.MkdirAll(dst, 0o755); err != nil {
		return fmt.Errorf("creating %s: %w", dst, err)
	}
	for _, rel := range rels {
		e, target := tree[rel], filepath.Join(dst, rel)
		switch {
		case e.mode.IsDir():
			err = in.ops.MkdirAll(target, 0o755)
		case e.mode&fs.ModeSymlink != 0:
			err = in.ops.Symlink(e.target, target)
		default:
			err = in.copyFile(filepath.Join(src, rel), target, e.mode.Perm())
		}
		if err != nil {
			return fmt.Errorf("staging %s: %w", target, err)
		}
	}
	return nil
}

func (in *Installer) copyFile(src, dst string, perm fs.FileMode) error {
	f, err := in.ops.Open(src)
	if err != nil {
		return err
	}
	defer f.Close()
	return in.ops.CreateFile(dst, f, perm)
}

// recoverInstallDir undoes what a crashed run left next to the install
// dir: a half-built stage and a half-deleted old tree are removed; an
// install dir moved aside by the two-rename fallback is moved back.
func (in *Installer) recoverInstallDir() error {
	dst := in.host(in.opts.InstallDir)
	for _, p := range []string{dst + stageSuffix, dst + trashSuffix} {
		if _, err := removeIfExists(in.ops, p); err != nil {
			return err
		}
	}
	old := dst + oldSuffix
	if _, err := in.ops.Lstat(old); err == nil {
		if _, err := in.ops.Lstat(dst); errors.Is(err, fs.ErrNotExist) {
			if err := in.ops.Rename(old, dst); err != nil {
				return fmt.Errorf("restoring %s: %w", dst, err)
			}
			return nil
		}
		if _, err := removeIfExists(in.ops, old); err != nil {
			return err
		}
	}
	return nil
}

// installArtifacts makes the install dir equal to the artifacts: it builds
// the new tree next to it, then swaps the two directories atomically. Files
// in use keep their inode, so a running shim is never rewritten ("text file
// busy" cannot happen).
func (in *Installer) installArtifacts() (bool, error) {
	dst := in.host(in.opts.InstallDir)
	if err := in.recoverInstallDir(); err != nil {
		return false, err
	}
	same, err := in.treesEqual(in.opts.ArtifactsDir, dst)
	if err != nil || same {
		return false, err
	}
	if err := in.ops.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return false, fmt.Errorf("creating %s: %w", filepath.Dir(dst), err)
	}
	stage := dst + stageSuffix
	if err := in.copyTree(in.opts.ArtifactsDir, stage); err != nil {
		return false, err
	}
	if _, err := in.ops.Lstat(dst); errors.Is(err, fs.ErrNotExist) {
		if err := in.ops.Rename(stage, dst); err != nil {
			return false, fmt.Errorf("moving %s into place: %w", stage, err)
		}
		return true, nil
	}
	err = in.ops.Exchange(stage, dst)
	if errors.Is(err, ErrExchangeUnsupported) {
		old := dst + oldSuffix
		if err := in.ops.Rename(dst, old); err != nil {
			return false, fmt.Errorf("moving %s aside: %w", dst, err)
		}
		if err := in.ops.Rename(stage, dst); err != nil {
			return false, fmt.Errorf("moving %s into place: %w", stage, err)
		}
		stage = old
	} else if err != nil {
		return false, fmt.Errorf("swapping %s into place: %w", stage, err)
	}
	// stage now holds the previous tree.
	if err := in.ops.RemoveAll(stage); err != nil {
		return false, fmt.Errorf("removing the previous install %s: %w", stage, err)
	}
	return true, nil
}
