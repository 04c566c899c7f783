package install

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"syscall"

	v1 "k8s.io/api/core/v1"
	"k8s.io/klog/v2"

	"github.com/mtscn/mtscn/pkg/node/containerd"
	"github.com/mtscn/mtscn/pkg/node/withdrawal"
	"github.com/mtscn/mtscn/pkg/wellknown"
)

// ErrSandboxesRunning is returned by Uninstall while pods run with the
// installed handlers and Options.Force is not set.
var ErrSandboxesRunning = errors.New("sandboxes are running with the installed handlers")

// Uninstall reverses Install. It takes the node out of sandbox service
// first (mtscn.io/sandbox-runtime=uninstalling), withdraws the handlers
// from discovery and waits until their mtscn.io/runtime.<handler> labels
// are gone (with Options.Force it goes on after DiscoveryTimeout; without,
// it fails and changes nothing). Then containerd's config is restored (byte
// for byte when it was not edited since; otherwise only the installer's
// additions are removed), the drop-in and the artifacts are removed,
// containerd is restarted, and the installer's labels are dropped. It
// refuses while sandboxes of the installed handlers run, unless
// Options.Force. It is safe to run twice and after an install that
// stopped half way.
func (in *Installer) Uninstall(ctx context.Context) (*Result, error) {
	res, err := in.uninstall(ctx)
	if err != nil {
		klog.FromContext(ctx).Error(err, "sandbox uninstall failed")
		if !errors.Is(err, ErrDiscoveryTimeout) { // that one has its own Event
			in.node.Event(ctx, v1.EventTypeWarning, "SandboxUninstallFailed", "sandbox uninstall failed: "+err.Error())
		}
	}
	return res, err
}

// ownedHandlers are the handlers of the record plus those the drop-in
// defines with a path in one of our install dirs (a record lost to a
// crash).
func (in *Installer) ownedHandlers(rec record, dropIn []byte) []string {
	handlers := rec.Handlers
	doc, err := parseTOML(in.dropInPath(), dropIn)
	if dropIn == nil || err != nil {
		return handlers
	}
	dirs := append(slices.Clone(rec.InstallDirs), in.opts.InstallDir, in.opts.GVisorInstallDir)
	for _, p := range []string{containerd.PluginCRIv2, containerd.PluginCRIv3} {
		for h, rt := range containerd.Table(doc, "plugins", p, "containerd", "runtimes") {
			m, _ := rt.(map[string]any)
			for _, v := range []any{m["runtime_path"], containerd.Table(m, "options")["BinaryName"], containerd.Table(m, "options")["ConfigPath"]} {
				s, _ := v.(string)
				for _, d := range dirs {
					if s != "" && strings.HasPrefix(s, path.Clean(d)+"/") {
						handlers = sortedUnion(handlers, []string{h})
					}
				}
			}
		}
	}
	return handlers
}

func (in *Installer) uninstall(ctx context.Context) (*Result, error) {
	res := &Result{}
	rec, hasRecord, err := in.loadRecord()
	if err != nil {
		return res, err
	}
	dropInHost := in.host(in.dropInPath())
	dropIn, hasDropIn, err := readOptional(in.ops, dropInHost)
	if err != nil {
		return res, err
	}
	handlers := in.ownedHandlers(rec, dropIn)
	res.Handlers = handlers
	installed := hasRecord || hasDropIn || in.stateDirInUse()
	if !installed {
		// Nothing of ours on the host (a second uninstall, or an install
		// that failed before its first change): no withdrawal left, only
		// labels to drop.
		if err := in.removeTemps(); err != nil {
			return res, err
		}
		if err := in.writeNote(withdrawal.Note{}); err != nil {
			return res, err
		}
		return res, in.applyNode(ctx, NodeChange{Remove: in.ourLabels()})
	}
	if err := in.checkNoSandboxes(ctx, handlers); err != nil {
		return res, err
	}
	if err := in.removeTemps(); err != nil {
		return res, err
	}

	// Take the node out of service before touching the host.
	set := map[string]string{wellknown.LabelSandboxRuntime: wellknown.SandboxRuntimeUninstalling}
	if in.hasKata() {
		set[wellknown.LabelKataRuntime] = "false"
	}
	if err := in.applyNode(ctx, NodeChange{Set: set}); err != nil {
		return res, err
	}
	in.note(ctx, v1.EventTypeNormal, "SandboxUninstalling", "uninstalling sandbox runtimes", "handlers", fmt.Sprint(handlers))
	// Discovery drops the handlers' labels before containerd loses them.
	if err := in.withdraw(ctx, withdrawal.ReasonUninstall, handlers, in.opts.Force); err != nil {
		return res, err
	}
	before := in.servedNow(ctx)

	configChanged, err := in.restoreConfig(ctx, rec)
	if err != nil {
		return res, err
	}
	if configChanged {
		res.Changed = append(res.Changed, rec.EditedFile)
	}
	removed, err := removeIfExists(in.ops, dropInHost)
	if err != nil {
		return res, err
	}
	if removed {
		res.Changed = append(res.Changed, in.dropInPath())
		in.note(ctx, v1.EventTypeNormal, "ContainerdDropInRemoved", "removed containerd drop-in", "path", in.dropInPath())
	}
	if removed || configChanged {
		if err := in.restart(ctx, res, "restarted containerd"); err != nil {
			return res, err
		}
		// Everything but our handlers must still be served (runc pods
		// keep running).
		if before != nil {
			var keep []string
			for h := range before {
				if !slices.Contains(handlers, h) {
					keep = append(keep, h)
				}
			}
			if err := in.verifyServed(ctx, keep, &containerdPlan{}); err != nil {
				return res, fmt.Errorf("after the uninstall: %w", err)
			}
		}
	}
	if rec.CreatedDropInDir {
		if err := in.ops.Remove(filepath.Dir(dropInHost)); err == nil {
			res.Changed = append(res.Changed, path.Dir(in.dropInPath()))
		} else if !errors.Is(err, fs.ErrNotExist) && !errors.Is(err, syscall.ENOTEMPTY) && !errors.Is(err, syscall.EEXIST) {
			return res, fmt.Errorf("removing %s: %w", filepath.Dir(dropInHost), err)
		}
	}

	// The artifacts: only install dirs the installer created, moved aside
	// atomically, then deleted.
	for _, dir := range rec.InstallDirs {
		dst := in.host(dir)
		for _, p := range []string{dst + stageSuffix, dst + oldSuffix} {
			if _, err := removeIfExists(in.ops, p); err != nil {
				return res, err
			}
		}
		if _, err := in.ops.Lstat(dst); err == nil {
			if _, err := removeIfExists(in.ops, dst+trashSuffix); err != nil {
				return res, err
			}
			if err := in.ops.Rename(dst, dst+trashSuffix); err != nil {
				return res, fmt.Errorf("moving %s aside: %w", dst, err)
			}
			res.Changed = append(res.Changed, dir)
			in.note(ctx, v1.EventTypeNormal, "SandboxArtifactsRemoved", "removed sandbox artifacts", "path", dir)
		}
		if _, err := removeIfExists(in.ops, dst+trashSuffix); err != nil {
			return res, err
		}
	}

	// The bookkeeping goes last: the backup, then the record, then the dir.
	for _, name := range []string{backupFile, recordFile} {
		if _, err := removeIfExists(in.ops, in.statePath(name)); err != nil {
			return res, err
		}
	}
	// The state dir goes when empty; in the DaemonSet it is a mount point
	// (EBUSY, or EROFS on the parent), which stays, empty.
	if err := in.ops.Remove(in.statePath("")); err != nil && !errors.Is(err, fs.ErrNotExist) &&
		!errors.Is(err, syscall.ENOTEMPTY) && !errors.Is(err, syscall.EEXIST) && !errors.Is(err, syscall.EBUSY) && !errors.Is(err, syscall.EROFS) {
		return res, fmt.Errorf("removing %s: %w", in.opts.StateDir, err)
	}

	// containerd no longer has any handler of ours: nothing is left to
	// withdraw (a runtime of the same name installed later by someone
	// else is reported again).
	if err := in.writeNote(withdrawal.Note{}); err != nil {
		return res, err
	}
	changed, err := in.node.Apply(ctx, NodeChange{Remove: in.ourLabels()})
	if err != nil {
		return res, err
	}
	if changed || len(res.Changed) > 0 {
		in.note(ctx, v1.EventTypeNormal, "SandboxUninstalled", "sandbox runtimes uninstalled; node labels removed", "handlers", fmt.Sprint(handlers))
	}
	return res, nil
}

// stateDirInUse reports whether the state dir holds anything but the
// withdrawal note's directory (a record or backup, or their temp files).
func (in *Installer) stateDirInUse() bool {
	entries, err := in.ops.ReadDir(in.statePath(""))
	if err != nil {
		return !errors.Is(err, fs.ErrNotExist)
	}
	noteDir := path.Dir(path.Clean(in.opts.WithdrawnNote))
	for _, e := range entries {
		if path.Join(path.Clean(in.opts.StateDir), e.Name()) != noteDir {
			return true
		}
	}
	return false
}

// checkNoSandboxes refuses while pods run with the handlers, unless forced.
func (in *Installer) checkNoSandboxes(ctx context.Context, handlers []string) error {
	if in.opts.Force || len(handlers) == 0 {
		return nil
	}
	if in.lister == nil {
		return fmt.Errorf("%w? cannot tell without containerd's CRI (--verify=cri and --cri-socket); pass --force to uninstall anyway", ErrSandboxesRunning)
	}
	running, err := in.lister.RunningSandboxes(ctx, handlers)
	if err != nil {
		return fmt.Errorf("checking for running sandboxes (pass --force to uninstall anyway): %w", err)
	}
	if len(running) > 0 {
		return fmt.Errorf("%w: %s; delete those pods (or drain the node) first, or pass --force to uninstall anyway (they lose their runtime)", ErrSandboxesRunning, strings.Join(running, ", "))
	}
	return nil
}

// restoreConfig puts the edited file back: the backup byte for byte when
// the file, minus the installer's additions, still means what the backup
// means and holds what the installer wrote; otherwise it removes only the
// installer's additions and keeps the admin's edits. Mode and owner of the
// file are kept.
func (in *Installer) restoreConfig(ctx context.Context, rec record) (bool, error) {
	if rec.EditedFile == "" {
		return false, nil
	}
	p := in.host(rec.EditedFile)
	cur, exists, err := readOptional(in.ops, p)
	if err != nil || !exists {
		return false, err // deleted since: the admin's choice
	}
	orig, hasBackup, err := readOptional(in.ops, in.statePath(backupFile))
	if err != nil {
		return false, err
	}
	if hasBackup && string(cur) == string(orig) {
		return false, nil
	}
	doc, err := parseTOML(rec.EditedFile, cur)
	if err != nil {
		return false, fmt.Errorf("%w; fix it and run uninstall again (the installer left it untouched)", err)
	}
	mode, uid, gid := fileOwner(in.ops, p)
	stripped := stripOurs(doc, rec)
	ours := slices.Contains(rec.Written, sha(cur))
	switch {
	case rec.EditedAbsent && ours:
		if err := in.ops.Remove(p); err != nil {
			return false, fmt.Errorf("removing %s, which the install created: %w", rec.EditedFile, err)
		}
		in.note(ctx, v1.EventTypeNormal, "ContainerdConfigRemoved", "removed containerd's config, which the install created", "path", rec.EditedFile)
		return true, nil
	case hasBackup && ours:
		origDoc, err := parseTOML(in.statePath(backupFile), orig)
		if err == nil && sameMeaning(stripped, origDoc) {
			if err := writeFileAs(in.ops, p, orig, mode, uid, gid); err != nil {
				return false, fmt.Errorf("restoring %s: %w", rec.EditedFile, err)
			}
			in.note(ctx, v1.EventTypeNormal, "ContainerdConfigRestored", "restored containerd's config from the backup", "path", rec.EditedFile)
			return true, nil
		}
	}
	if sameMeaning(stripped, doc) {
		return false, nil
	}
	out, err := containerd.Marshal(stripped)
	if err != nil {
		return false, fmt.Errorf("encoding %s: %w", rec.EditedFile, err)
	}
	if err := writeFileAs(in.ops, p, out, mode, uid, gid); err != nil {
		return false, fmt.Errorf("editing %s: %w", rec.EditedFile, err)
	}
	in.note(ctx, v1.EventTypeWarning, "ContainerdConfigKeptEdits", "containerd's config changed after the install; kept the changes and removed only the installer's runtimes and imports entry", "path", rec.EditedFile)
	return true, nil
}

// fileOwner returns a file's mode and owner (0644 and -1 when unknown).
func fileOwner(ops Ops, p string) (fs.FileMode, int, int) {
	fi, err := ops.Lstat(p)
	if err != nil {
		return 0o644, -1, -1
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return fi.Mode().Perm(), int(st.Uid), int(st.Gid)
	}
	return fi.Mode().Perm(), -1, -1
}

// ourLabels are the labels the installer sets (never mtscn.io/runtime.*,
// which discovery writes).
func (in *Installer) ourLabels() []string {
	remove := []string{wellknown.LabelSandboxRuntime}
	if in.hasKata() {
		remove = append(remove, wellknown.LabelKataRuntime)
	}
	return remove
}
