package install

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"path/filepath"
	"slices"
	"sort"
)

// Suffixes of the installer's siblings of an install dir, on the same
// mount: the new tree being built, the previous tree being removed, and a
// tree being deleted by uninstall.
const (
	stageSuffix = ".mtscn-stage"
	oldSuffix   = ".mtscn-old"
	trashSuffix = ".mtscn-trash"
)

// treeEntry is one file, directory or symlink of a tree.
type treeEntry struct {
	mode   fs.FileMode
	target string // symlinks
	gen    bool   // a generated file (content in Sandbox.Generated)
}

// sourceTree is the tree a sandbox's install dir must hold: its artifacts
// plus the generated files.
func (in *Installer) sourceTree(s Sandbox) (map[string]treeEntry, error) {
	tree, err := in.walkTree(s.ArtifactsDir)
	if err != nil {
		return nil, fmt.Errorf("reading the %s artifacts %s: %w", s.Name, s.ArtifactsDir, err)
	}
	for rel := range s.Generated {
		tree[rel] = treeEntry{mode: 0o644, gen: true}
	}
	return tree, nil
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

// treesEqual reports whether the install dir dst (a path under the host
// root) holds exactly the sandbox's tree.
func (in *Installer) treesEqual(s Sandbox, dst string) (bool, error) {
	if _, err := in.ops.Lstat(dst); errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	a, err := in.sourceTree(s)
	if err != nil {
		return false, err
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
		if ea.gen {
			if !ok || !eb.mode.IsRegular() || eb.mode.Perm() != 0o644 {
				return false, nil
			}
			cur, err := in.ops.ReadFile(filepath.Join(dst, rel))
			if err != nil || !bytes.Equal(cur, s.Generated[rel]) {
				return false, err
			}
			continue
		}
		if !ok || ea != eb {
			return false, nil
		}
		if ea.mode.IsRegular() {
			same, err := in.sameContent(filepath.Join(s.ArtifactsDir, rel), filepath.Join(dst, rel))
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

// copyTree builds the sandbox's tree in a new directory dst.
func (in *Installer) copyTree(s Sandbox, dst string) error {
	tree, err := in.sourceTree(s)
	if err != nil {
		return err
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
		case e.gen:
			err = in.ops.CreateFile(target, bytes.NewReader(s.Generated[rel]), 0o644)
		case e.mode.IsDir():
			err = in.ops.MkdirAll(target, 0o755)
		case e.mode&fs.ModeSymlink != 0:
			err = in.ops.Symlink(e.target, target)
		default:
			err = in.copyFile(filepath.Join(s.ArtifactsDir, rel), target, e.mode.Perm())
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
func (in *Installer) recoverInstallDir(dst string) error {
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

// installArtifacts makes the sandbox's install dir equal to its tree: it
// builds the new tree beside it (same mount), then swaps the two
// directories atomically. Files in use keep their inode, so a running shim
// is never rewritten ("text file busy" cannot happen).
func (in *Installer) installArtifacts(s Sandbox) (bool, error) {
	dst := in.host(s.InstallDir)
	if err := in.recoverInstallDir(dst); err != nil {
		return false, err
	}
	same, err := in.treesEqual(s, dst)
	if err != nil || same {
		return false, err
	}
	if err := in.ops.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return false, fmt.Errorf("creating %s: %w", filepath.Dir(dst), err)
	}
	stage := dst + stageSuffix
	if err := in.copyTree(s, stage); err != nil {
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

// checkInstallDirOwner refuses to replace an install dir the installer did
// not create (another installer's, e.g. kata-deploy's /opt/kata), unless it
// already holds exactly our tree.
func (in *Installer) checkInstallDirOwner(s Sandbox, rec record) error {
	if slices.Contains(rec.InstallDirs, s.InstallDir) {
		return nil
	}
	dst := in.host(s.InstallDir)
	entries, err := in.ops.ReadDir(dst)
	if errors.Is(err, fs.ErrNotExist) || (err == nil && len(entries) == 0) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("reading %s: %w", s.InstallDir, err)
	}
	if same, err := in.treesEqual(s, dst); err != nil || same {
		return err
	}
	return fmt.Errorf("%s already holds files that mtscn-node did not install (another installer's, such as kata-deploy's?); refusing to replace them: choose another --install-dir/--gvisor-install-dir, or remove that installation first", s.InstallDir)
}
