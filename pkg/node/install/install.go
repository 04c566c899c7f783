package install

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"time"

	v1 "k8s.io/api/core/v1"
	"k8s.io/klog/v2"

	"github.com/mtscn/mtscn/pkg/wellknown"
)

// ErrRolledBack marks an install that was rolled back earlier with the same
// plan: Serve does not restart containerd for it again.
var ErrRolledBack = errors.New("this install was rolled back before and nothing changed since")

// Install puts the sandbox runtimes on the node. It is idempotent: a
// second run with the same artifacts writes nothing and does not restart
// containerd.
func (in *Installer) Install(ctx context.Context) (*Result, error) {
	return in.installOnce(ctx, false)
}

func (in *Installer) installOnce(ctx context.Context, skipRolledBack bool) (*Result, error) {
	res, err := in.install(ctx, skipRolledBack)
	if err != nil {
		return res, in.fail(ctx, err)
	}
	return res, nil
}

// detectMajor returns containerd's major version: the option, else what
// the CRI reports, else 0 (inferred from the config version).
func (in *Installer) detectMajor(ctx context.Context) int {
	if in.opts.ContainerdMajor != 0 {
		return in.opts.ContainerdMajor
	}
	v, ok := in.verifier.(interface {
		Version(context.Context) (string, error)
	})
	if !ok {
		return 0
	}
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	ver, err := v.Version(cctx)
	if err != nil {
		klog.FromContext(ctx).Info("cannot ask containerd for its version; inferring it from the config version", "err", err)
		return 0
	}
	m := regexp.MustCompile(`^v?(\d+)\.`).FindStringSubmatch(ver)
	if m == nil {
		return 0
	}
	n, _ := strconv.Atoi(m[1])
	return n
}

// servedNow asks containerd which runtimes it serves, briefly; nil when it
// cannot tell.
func (in *Installer) servedNow(ctx context.Context) map[string]string {
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	served, err := in.verifier.Runtimes(cctx)
	if err != nil {
		klog.FromContext(ctx).Info("cannot read the runtimes containerd serves now; using its config files", "err", err)
		return nil
	}
	return served
}

func (in *Installer) install(ctx context.Context, skipRolledBack bool) (*Result, error) {
	logger := klog.FromContext(ctx)
	res := &Result{}
	sbs, err := in.sandboxes()
	if err != nil {
		return res, err
	}
	rec, _, err := in.loadRecord()
	if err != nil {
		return res, err
	}
	plan, err := in.planContainerd(sbs, rec, in.detectMajor(ctx))
	if err != nil {
		return res, err
	}
	res.Handlers, res.UserHandlers = plan.handlers, plan.userHandlers
	for _, s := range sbs {
		if err := in.checkInstallDirOwner(s, rec); err != nil {
			return res, err
		}
	}
	if err := in.removeTemps(); err != nil {
		return res, err
	}

	// Work out whether the host needs any change before touching anything.
	artifactsSame := true
	for _, s := range sbs {
		dst := in.host(s.InstallDir)
		same, err := in.treesEqual(s, dst)
		if err != nil {
			return res, err
		}
		for _, p := range []string{dst + stageSuffix, dst + oldSuffix, dst + trashSuffix} {
			if _, err := in.ops.Lstat(p); err == nil {
				same = false
			}
		}
		artifactsSame = artifactsSame && same
	}
	configChanges := plan.editChanges() || plan.dropInChanges()
	if skipRolledBack && rec.RolledBack == plan.hash && configChanges {
		return res, fmt.Errorf("%w: fix what made containerd fail (see the SandboxInstallFailed Event and containerd's log), change the config or the artifacts, or run `mtscn-node install` once by hand", ErrRolledBack)
	}

	// Which runtimes containerd serves before any change: all of them
	// must still be served after the install (runc above all).
	keep := plan.chainServed
	if served := in.servedNow(ctx); served != nil {
		// Our own handlers of an earlier install that this plan drops
		// need not survive, and ours are checked by type below;
		// everything else must (runc above all).
		keep = keep[:0:0]
		for h := range served {
			if !slices.Contains(rec.Handlers, h) && !slices.Contains(plan.handlers, h) {
				keep = append(keep, h)
			}
		}
	}
	res.Kept = keep

	// The record of what the current config holds, for a rollback.
	prevAdded, prevImport := rec.Added, rec.AddedImport
	if !artifactsSame || configChanges {
		if err := in.applyChanges(ctx, sbs, plan, &rec, res); err != nil {
			return res, err
		}
	} else {
		logger.V(2).Info("sandbox runtimes already installed; host unchanged", "handlers", plan.handlers)
	}

	if err := in.verifyServed(ctx, keep, plan); err != nil {
		switch {
		case res.Restarted:
			// Our change made containerd lose a runtime or not serve
			// ours: put the previous config back.
			// The previous config comes back, and with it what
			// uninstall must strip from it.
			rec.Added, rec.AddedImport = prevAdded, prevImport
			return res, in.rollback(ctx, plan, &rec, res, err)
		case !configChanges:
			// The files are right but containerd does not serve them: a
			// previous run wrote them and stopped before the restart (or
			// someone restarted containerd with another config). Restart
			// once.
			logger.Info("containerd does not serve the runtimes although its files are in place; restarting it", "err", err)
			if cerr := in.claim(ctx, withdrawable(sortedUnion(rec.Handlers, plan.handlers), plan.userHandlers)); cerr != nil {
				return res, errors.Join(err, cerr)
			}
			if rerr := in.restart(ctx, res, "restarted containerd, which did not serve the runtimes"); rerr != nil {
				return res, errors.Join(err, rerr)
			}
			if err := in.verifyServed(ctx, keep, plan); err != nil {
				return res, err
			}
		default:
			return res, err
		}
	}
	if rec.RolledBack != "" {
		rec.RolledBack = ""
		if err := in.saveRecord(rec); err != nil {
			return res, err
		}
	}
	return res, in.labelReady(ctx, plan, res)
}

// applyChanges claims the node and changes the host: record, backup,
// artifacts, drop-in, config, restart.
func (in *Installer) applyChanges(ctx context.Context, sbs []Sandbox, plan *containerdPlan, rec *record, res *Result) error {
	// Claim the node before touching the host: no sandbox pod may land
	// while containerd's config and the artifacts change.
	if err := in.claim(ctx, withdrawable(sortedUnion(rec.Handlers, plan.handlers), plan.userHandlers)); err != nil {
		return err
	}
	in.note(ctx, v1.EventTypeNormal, "SandboxInstalling", "installing sandbox runtimes", "handlers", fmt.Sprint(plan.handlers), "layout", plan.layout)
	for _, h := range plan.userHandlers {
		in.note(ctx, v1.EventTypeNormal, "SandboxHandlerKept", "a runtime with this handler is already configured; kept it as it is", "handler", h)
	}

	// Remember what uninstall needs before the first host change.
	rec.Handlers = sortedUnion(rec.Handlers, plan.handlers)
	rec.Added = sortedUnion(nil, plan.added)
	rec.AddedImport = plan.addedImport
	if plan.editChanges() {
		if rec.EditedFile == "" {
			rec.EditedFile, rec.EditedAbsent = plan.editPath, !plan.editExists
		} else if rec.EditedFile != plan.editPath {
			return fmt.Errorf("the installer edited %s before and would now edit %s (containerd's config chain changed); run `mtscn-node uninstall` first", rec.EditedFile, plan.editPath)
		}
		if s := sha(plan.editNew); !slices.Contains(rec.Written, s) {
			rec.Written = append(rec.Written, s)
		}
	}
	for _, s := range sbs {
		if !slices.Contains(rec.InstallDirs, s.InstallDir) {
			rec.InstallDirs = append(rec.InstallDirs, s.InstallDir)
		}
	}
	dropInHost := in.host(in.dropInPath())
	if plan.dropIn != nil {
		if _, err := in.ops.Lstat(filepath.Dir(dropInHost)); errors.Is(err, fs.ErrNotExist) {
			rec.CreatedDropInDir = true
		}
	}
	if err := in.saveRecord(*rec); err != nil {
		return fmt.Errorf("saving the install record: %w", err)
	}
	if plan.editChanges() {
		if err := in.backupConfig(ctx, plan); err != nil {
			return err
		}
	}
	for _, s := range sbs {
		changed, err := in.installArtifacts(s)
		if err != nil {
			return err
		}
		if changed {
			res.Changed = append(res.Changed, s.InstallDir)
			in.note(ctx, v1.EventTypeNormal, "SandboxArtifactsInstalled", "installed sandbox artifacts", "sandbox", s.Name, "from", s.ArtifactsDir, "to", s.InstallDir)
		}
	}
	if err := in.writeContainerdFiles(ctx, plan.dropIn, plan.editNew, plan, res); err != nil {
		return err
	}
	if plan.editChanges() || plan.dropInChanges() {
		return in.restart(ctx, res, "restarted containerd")
	}
	return nil
}

// writeContainerdFiles makes the drop-in and the edited file hold dropIn
// and edit (nil dropIn: no drop-in; nil edit: leave the file alone).
func (in *Installer) writeContainerdFiles(ctx context.Context, dropIn, edit []byte, plan *containerdPlan, res *Result) error {
	dropInHost := in.host(in.dropInPath())
	cur, exists, err := readOptional(in.ops, dropInHost)
	if err != nil {
		return err
	}
	switch {
	case dropIn == nil && exists:
		if err := in.ops.Remove(dropInHost); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("removing %s: %w", in.dropInPath(), err)
		}
		res.Changed = append(res.Changed, in.dropInPath())
	case dropIn != nil && (!exists || string(cur) != string(dropIn)):
		if err := writeFileAtomic(in.ops, dropInHost, dropIn, 0o644); err != nil {
			return err
		}
		if err := in.checkTOML(dropInHost); err != nil {
			return err
		}
		res.Changed = append(res.Changed, in.dropInPath())
		in.note(ctx, v1.EventTypeNormal, "ContainerdDropInWritten", "wrote containerd drop-in", "path", in.dropInPath(), "configVersion", plan.version)
	}
	if edit == nil {
		return nil
	}
	p := in.host(plan.editPath)
	cur, exists, err = readOptional(in.ops, p)
	if err != nil || (exists && string(cur) == string(edit)) {
		return err
	}
	if err := writeFileAs(in.ops, p, edit, plan.editMode, plan.uid, plan.gid); err != nil {
		return err
	}
	if err := in.checkTOML(p); err != nil {
		return err
	}
	res.Changed = append(res.Changed, plan.editPath)
	in.note(ctx, v1.EventTypeNormal, "ContainerdConfigEdited", "edited containerd's config", "path", plan.editPath, "layout", plan.layout)
	return nil
}

func (in *Installer) restart(ctx context.Context, res *Result, msg string) error {
	if err := in.restarter.Restart(ctx, in.opts.ContainerdUnit); err != nil {
		return fmt.Errorf("restarting containerd: %w", err)
	}
	res.Restarted = true
	in.note(ctx, v1.EventTypeNormal, "ContainerdRestarted", msg, "unit", in.opts.ContainerdUnit)
	return nil
}

// verifyServed checks that containerd serves every runtime in keep and
// every handler of the plan.
func (in *Installer) verifyServed(ctx context.Context, keep []string, plan *containerdPlan) error {
	served, err := in.verifier.Runtimes(ctx)
	if err != nil {
		return fmt.Errorf("verifying the runtimes containerd serves: %w", err)
	}
	if served == nil {
		return nil // --verify=none
	}
	want := map[string]string{}
	for _, h := range plan.handlers {
		want[h] = plan.types[h]
	}
	return checkServed(served, keep, want)
}

// rollback puts containerd's previous config back after a failed
// verification, restarts containerd, checks it serves what it served
// before, and records the plan so that Serve does not retry it in a loop.
func (in *Installer) rollback(ctx context.Context, plan *containerdPlan, rec *record, res *Result, cause error) error {
	var old []byte
	if plan.editExists {
		old = plan.editOld
	}
	var oldDropIn []byte
	if plan.dropInExists {
		oldDropIn = plan.dropInOld
	}
	errs := []error{cause}
	if err := in.writeContainerdFiles(ctx, oldDropIn, old, plan, res); err != nil {
		errs = append(errs, fmt.Errorf("rolling back: %w", err))
	}
	if !plan.editExists {
		if _, err := removeIfExists(in.ops, in.host(plan.editPath)); err != nil {
			errs = append(errs, fmt.Errorf("rolling back: %w", err))
		}
	}
	if err := in.restart(ctx, res, "restarted containerd with its previous config (rollback)"); err != nil {
		errs = append(errs, fmt.Errorf("rolling back: %w", err))
	}
	rec.RolledBack = plan.hash
	if err := in.saveRecord(*rec); err != nil {
		errs = append(errs, err)
	}
	res.RolledBack = true
	in.note(ctx, v1.EventTypeWarning, "ContainerdConfigRolledBack", "containerd did not serve every runtime after the change; put its previous config back", "err", cause.Error())
	return fmt.Errorf("install rolled back: %w", errors.Join(errs...))
}

// labelReady hands the verified handlers back to discovery, waits until it
// has published mtscn.io/runtime.<handler>=true for each, and only then
// sets mtscn.io/sandbox-runtime=true and lifts the startup taint. Handlers
// of an earlier install that this plan dropped stay withdrawn.
func (in *Installer) labelReady(ctx context.Context, plan *containerdPlan, res *Result) error {
	if err := in.handBack(ctx, plan.handlers); err != nil {
		return err
	}
	set := map[string]string{wellknown.LabelSandboxRuntime: wellknown.SandboxRuntimeTrue}
	if in.hasKata() {
		set[wellknown.LabelKataRuntime] = "true"
	}
	changed, err := in.node.Apply(ctx, NodeChange{Set: set, RemoveTaints: []string{wellknown.TaintSandboxNotReady}})
	if err != nil {
		return err
	}
	if changed || len(res.Changed) > 0 || res.Restarted {
		in.note(ctx, v1.EventTypeNormal, "SandboxInstalled", "sandbox runtimes installed and verified, and discovery reports them; node marked ready and startup taint removed", "handlers", fmt.Sprint(plan.handlers), "kept", fmt.Sprint(res.Kept))
	}
	return nil
}

// removeTemps removes the temp files a crashed run may have left next to
// the files the installer writes.
func (in *Installer) removeTemps() error {
	paths := []string{in.host(in.opts.ContainerdConfig), in.host(in.dropInPath()), in.statePath(recordFile), in.statePath(backupFile), in.notePath()}
	if real, err := in.root().Resolve(path.Clean(in.opts.ContainerdConfig)); err == nil {
		paths = append(paths, in.host(real))
	}
	for _, p := range paths {
		if _, err := removeIfExists(in.ops, tempName(p)); err != nil {
			return err
		}
	}
	return nil
}

// checkTOML parses a file just written.
func (in *Installer) checkTOML(p string) error {
	b, err := in.ops.ReadFile(p)
	if err != nil {
		return fmt.Errorf("reading back %s: %w", p, err)
	}
	_, err = parseTOML(p, b)
	return err
}

// backupConfig saves the file about to be edited once, before its first
// change (0600: it may hold registry credentials).
func (in *Installer) backupConfig(ctx context.Context, plan *containerdPlan) error {
	if _, err := in.ops.Lstat(in.statePath(backupFile)); err == nil || !plan.editExists {
		return nil
	}
	if err := writeFileAtomic(in.ops, in.statePath(backupFile), plan.editOld, 0o600); err != nil {
		return fmt.Errorf("backing up %s: %w", plan.editPath, err)
	}
	in.note(ctx, v1.EventTypeNormal, "ContainerdConfigBackedUp", "backed up containerd's config", "path", plan.editPath, "backup", path.Join(in.opts.StateDir, backupFile))
	return nil
}
