package install

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"syscall"

	v1 "k8s.io/api/core/v1"
	"k8s.io/klog/v2"

	"github.com/mtscn/mtscn/pkg/wellknown"
)

// Files in the state dir.
const (
	recordFile   = "state.json"
	backupFile   = "config.toml.orig"
	absentMarker = "config.toml.absent"
)

// Installer installs and uninstalls Kata on one node.
type Installer struct {
	opts      Options
	ops       Ops
	node      Node
	restarter Restarter
	verifier  Verifier
}

// Option configures an Installer.
type Option func(*Installer)

// WithOps replaces the file system operations (tests inject faults).
func WithOps(ops Ops) Option { return func(in *Installer) { in.ops = ops } }

// WithNode sets the Node the installer labels.
func WithNode(n Node) Option { return func(in *Installer) { in.node = n } }

// WithRestarter sets how containerd is restarted.
func WithRestarter(r Restarter) Option { return func(in *Installer) { in.restarter = r } }

// WithVerifier sets how the handlers are verified.
func WithVerifier(v Verifier) Option { return func(in *Installer) { in.verifier = v } }

// New returns an Installer. Without options it works on the real file
// system, restarts containerd through systemd, verifies with the host's
// `containerd config dump`, and keeps node changes in memory.
func New(opts Options, options ...Option) (*Installer, error) {
	opts.SetDefaults()
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	in := &Installer{opts: opts, ops: OSOps{}, node: &MemoryNode{}, restarter: SystemdRestarter{HostRoot: opts.HostRoot}}
	in.verifier = DumpVerifier{Command: DefaultDumpCommand(opts.HostRoot), Config: opts.ContainerdConfig}
	for _, o := range options {
		o(in)
	}
	return in, nil
}

// DefaultDumpCommand is the containerd command for DumpVerifier: the host's
// binary, through chroot when the host is mounted elsewhere.
func DefaultDumpCommand(hostRoot string) []string {
	if filepath.Clean(hostRoot) == "/" {
		return []string{"containerd"}
	}
	return []string{"chroot", hostRoot, "containerd"}
}

// Result says what a run did.
type Result struct {
	// Changed lists the host paths written or removed, in order.
	Changed []string
	// Restarted is true when containerd was restarted.
	Restarted bool
	// Handlers are the handlers installed (or removed) by mtscn-node.
	Handlers []string
	// UserHandlers were already configured by someone else and were kept.
	UserHandlers []string
}

// record is what the installer remembers between install and uninstall.
type record struct {
	// Handlers ever installed, so that uninstall removes their labels.
	Handlers []string `json:"handlers"`
	// WrittenConfigSHA256 is the hash of the config.toml the install
	// writes: uninstall restores the backup only over that content (or the
	// original), and otherwise removes just the imports entry.
	WrittenConfigSHA256 string `json:"writtenConfigSHA256,omitempty"`
	// CreatedDropInDir is true when the install created the drop-in's
	// directory (uninstall removes it when empty).
	CreatedDropInDir bool `json:"createdDropInDir,omitempty"`
}

func (in *Installer) host(p string) string { return filepath.Join(in.opts.HostRoot, p) }

func (in *Installer) dropInPath() string { return path.Clean(in.opts.DropIn) }

func (in *Installer) statePath(name string) string {
	return in.host(path.Join(in.opts.StateDir, name))
}

func sha(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func (in *Installer) loadRecord() (record, bool, error) {
	var r record
	b, ok, err := readOptional(in.ops, in.statePath(recordFile))
	if err != nil || !ok {
		return r, false, err
	}
	if err := json.Unmarshal(b, &r); err != nil {
		return r, false, fmt.Errorf("reading %s: %w; remove it to start over", in.statePath(recordFile), err)
	}
	return r, true, nil
}

func (in *Installer) saveRecord(r record) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	cur, _, err := readOptional(in.ops, in.statePath(recordFile))
	if err != nil || bytes.Equal(cur, b) {
		return err
	}
	return writeFileAtomic(in.ops, in.statePath(recordFile), b, 0o600)
}

// note logs a change and records it as an Event on the Node.
func (in *Installer) note(ctx context.Context, eventType, reason, msg string, kv ...any) {
	klog.FromContext(ctx).WithCallDepth(1).Info(msg, append([]any{"reason", reason, "type", eventType}, kv...)...)
	text := msg
	for i := 0; i+1 < len(kv); i += 2 {
		text += fmt.Sprintf(" %v=%v", kv[i], kv[i+1])
	}
	in.node.Event(ctx, eventType, reason, text)
}

func (in *Installer) applyNode(ctx context.Context, c NodeChange) error {
	changed, err := in.node.Apply(ctx, c)
	if err != nil {
		return err
	}
	if changed {
		klog.FromContext(ctx).Info("node updated", "setLabels", c.Set, "removedLabels", c.Remove, "removedTaints", c.RemoveTaints)
	}
	return nil
}

// fail marks the node failed and returns err.
func (in *Installer) fail(ctx context.Context, err error, handlers []string) error {
	klog.FromContext(ctx).Error(err, "kata install failed")
	in.node.Event(ctx, v1.EventTypeWarning, "KataInstallFailed", "kata install failed: "+err.Error())
	c := NodeChange{Set: map[string]string{wellknown.LabelSandboxRuntime: wellknown.SandboxRuntimeFailed, wellknown.LabelKataRuntime: "false"}, Remove: runtimeLabels(handlers)}
	if nerr := in.applyNode(ctx, c); nerr != nil {
		return errors.Join(err, nerr)
	}
	return err
}

// Install puts Kata on the node. It is idempotent: a second run with the
// same artifacts writes nothing and does not restart containerd.
func (in *Installer) Install(ctx context.Context) (*Result, error) {
	res, err := in.install(ctx)
	if err != nil {
		// The record names the handlers of earlier installs, when readable.
		rec, _, _ := in.loadRecord()
		return res, in.fail(ctx, err, sortedUnion(rec.Handlers, res.Handlers))
	}
	return res, nil
}

// claim takes the node out of Kata service before the host or containerd
// changes: pending, kata-runtime=false, no runtime labels.
func (in *Installer) claim(ctx context.Context, handlers []string) error {
	return in.applyNode(ctx, NodeChange{
		Set:    map[string]string{wellknown.LabelSandboxRuntime: wellknown.SandboxRuntimePending, wellknown.LabelKataRuntime: "false"},
		Remove: runtimeLabels(handlers),
	})
}

func runtimeLabels(handlers []string) []string {
	var out []string
	for _, h := range handlers {
		out = append(out, wellknown.LabelRuntimePrefix+h)
	}
	return out
}

func (in *Installer) install(ctx context.Context) (*Result, error) {
	logger := klog.FromContext(ctx)
	res := &Result{}
	shims, err := in.discoverShims()
	if err != nil {
		return res, err
	}
	plan, err := in.planContainerd(shims)
	if err != nil {
		return res, err
	}
	res.Handlers, res.UserHandlers = plan.handlers, plan.userHandlers

	if err := in.removeTemps(); err != nil {
		return res, err
	}
	// Work out whether the host needs any change before touching anything.
	dst := in.host(in.opts.InstallDir)
	artifactsSame, err := in.treesEqual(in.opts.ArtifactsDir, dst)
	if err != nil {
		return res, err
	}
	var leftovers bool
	for _, p := range []string{dst + stageSuffix, dst + oldSuffix, dst + trashSuffix} {
		if _, err := in.ops.Lstat(p); err == nil {
			leftovers = true
		}
	}
	dropInHost := in.host(in.dropInPath())
	curDropIn, _, err := readOptional(in.ops, dropInHost)
	if err != nil {
		return res, err
	}
	dropInSame := bytes.Equal(curDropIn, plan.dropIn) && curDropIn != nil
	configSame := bytes.Equal(plan.configOld, plan.configNew) && plan.configExists
	rec, _, err := in.loadRecord()
	if err != nil {
		return res, err
	}
	stale := slices.DeleteFunc(slices.Clone(rec.Handlers), func(h string) bool { return slices.Contains(plan.handlers, h) })

	if !artifactsSame || leftovers || !dropInSame || !configSame {
		// Claim the node before touching the host: no Kata pod may land
		// while containerd's config and the artifacts change.
		if err := in.claim(ctx, sortedUnion(rec.Handlers, plan.handlers)); err != nil {
			return res, err
		}
		in.note(ctx, v1.EventTypeNormal, "KataInstalling", "installing kata", "handlers", fmt.Sprint(plan.handlers))
		for _, h := range plan.userHandlers {
			in.note(ctx, v1.EventTypeNormal, "KataHandlerKept", "a runtime with this handler is already configured; kept it as it is", "handler", h)
		}

		// Remember what uninstall needs before the first host change.
		rec.Handlers = sortedUnion(rec.Handlers, plan.handlers)
		rec.WrittenConfigSHA256 = sha(plan.configNew)
		if _, err := in.ops.Lstat(filepath.Dir(dropInHost)); errors.Is(err, fs.ErrNotExist) {
			rec.CreatedDropInDir = true
		}
		if err := in.saveRecord(rec); err != nil {
			return res, fmt.Errorf("saving the install record: %w", err)
		}
		if !configSame {
			if err := in.backupConfig(ctx, plan); err != nil {
				return res, err
			}
		}
		changed, err := in.installArtifacts()
		if err != nil {
			return res, err
		}
		if changed {
			res.Changed = append(res.Changed, in.opts.InstallDir)
			in.note(ctx, v1.EventTypeNormal, "KataArtifactsInstalled", "installed kata artifacts", "from", in.opts.ArtifactsDir, "to", in.opts.InstallDir)
		}
		if !dropInSame {
			if err := writeFileAtomic(in.ops, dropInHost, plan.dropIn, 0o644); err != nil {
				return res, err
			}
			if err := in.checkTOML(dropInHost); err != nil {
				return res, err
			}
			res.Changed = append(res.Changed, in.dropInPath())
			in.note(ctx, v1.EventTypeNormal, "ContainerdDropInWritten", "wrote containerd drop-in", "path", in.dropInPath(), "configVersion", plan.version)
		}
		if !configSame {
			if err := writeFileAtomic(in.ops, in.host(in.opts.ContainerdConfig), plan.configNew, 0o644); err != nil {
				return res, err
			}
			if err := in.checkTOML(in.host(in.opts.ContainerdConfig)); err != nil {
				return res, err
			}
			res.Changed = append(res.Changed, in.opts.ContainerdConfig)
			in.note(ctx, v1.EventTypeNormal, "ContainerdConfigImportAdded", "added the drop-in to containerd's imports", "path", in.opts.ContainerdConfig, "import", in.dropInPath())
		}
		if !dropInSame || !configSame {
			if err := in.restarter.Restart(ctx, in.opts.ContainerdUnit); err != nil {
				return res, err
			}
			res.Restarted = true
			in.note(ctx, v1.EventTypeNormal, "ContainerdRestarted", "restarted containerd", "unit", in.opts.ContainerdUnit)
		}
	} else {
		logger.V(2).Info("kata already installed; host unchanged", "handlers", plan.handlers)
	}

	if err := in.verifier.Verify(ctx, plan.handlers); err != nil {
		if res.Restarted {
			return res, err
		}
		// The files are right but containerd does not serve them: a
		// previous run wrote them and stopped before the restart (or
		// someone restarted containerd with another config). Restart once.
		logger.Info("containerd does not serve the handlers although its files are in place; restarting it", "err", err)
		if cerr := in.claim(ctx, sortedUnion(rec.Handlers, plan.handlers)); cerr != nil {
			return res, errors.Join(err, cerr)
		}
		if rerr := in.restarter.Restart(ctx, in.opts.ContainerdUnit); rerr != nil {
			return res, errors.Join(err, rerr)
		}
		res.Restarted = true
		in.note(ctx, v1.EventTypeNormal, "ContainerdRestarted", "restarted containerd, which did not serve the handlers", "unit", in.opts.ContainerdUnit)
		if err := in.verifier.Verify(ctx, plan.handlers); err != nil {
			return res, err
		}
	}
	set := map[string]string{wellknown.LabelSandboxRuntime: wellknown.SandboxRuntimeTrue, wellknown.LabelKataRuntime: "true"}
	for _, h := range plan.handlers {
		set[wellknown.LabelRuntimePrefix+h] = "true"
	}
	var remove []string
	for _, h := range stale {
		remove = append(remove, wellknown.LabelRuntimePrefix+h)
	}
	changed, err := in.node.Apply(ctx, NodeChange{Set: set, Remove: remove, RemoveTaints: []string{wellknown.TaintSandboxNotReady}})
	if err != nil {
		return res, err
	}
	if changed || len(res.Changed) > 0 || res.Restarted {
		in.note(ctx, v1.EventTypeNormal, "KataInstalled", "kata installed and verified; node labelled and startup taint removed", "handlers", fmt.Sprint(plan.handlers))
	}
	return res, nil
}

// removeTemps removes the temp files a crashed run may have left next to
// the files the installer writes. They are never loaded by containerd
// (hidden, not *.toml) but must not pile up.
func (in *Installer) removeTemps() error {
	for _, p := range []string{
		in.host(in.opts.ContainerdConfig), in.host(in.dropInPath()),
		in.statePath(recordFile), in.statePath(backupFile), in.statePath(absentMarker),
	} {
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

// backupConfig saves config.toml (or the fact that there was none) once,
// before its first change.
func (in *Installer) backupConfig(ctx context.Context, plan *containerdPlan) error {
	for _, name := range []string{backupFile, absentMarker} {
		if _, err := in.ops.Lstat(in.statePath(name)); err == nil {
			return nil
		}
	}
	if plan.configExists {
		if err := writeFileAtomic(in.ops, in.statePath(backupFile), plan.configOld, 0o600); err != nil {
			return fmt.Errorf("backing up %s: %w", in.opts.ContainerdConfig, err)
		}
		in.note(ctx, v1.EventTypeNormal, "ContainerdConfigBackedUp", "backed up containerd's config", "path", in.opts.ContainerdConfig, "backup", path.Join(in.opts.StateDir, backupFile))
		return nil
	}
	if err := writeFileAtomic(in.ops, in.statePath(absentMarker), nil, 0o600); err != nil {
		return fmt.Errorf("recording that %s does not exist: %w", in.opts.ContainerdConfig, err)
	}
	return nil
}

const trashSuffix = ".mtscn-trash"

// Uninstall reverses Install: labels first (so no Kata pod lands), then
// config.toml restored byte for byte, the drop-in and the artifacts
// removed, containerd restarted, and the labels dropped. It is safe to run
// twice and after an install that stopped half way.
func (in *Installer) Uninstall(ctx context.Context) (*Result, error) {
	res, err := in.uninstall(ctx)
	if err != nil {
		klog.FromContext(ctx).Error(err, "kata uninstall failed")
		in.node.Event(ctx, v1.EventTypeWarning, "KataUninstallFailed", "kata uninstall failed: "+err.Error())
	}
	return res, err
}

func (in *Installer) uninstall(ctx context.Context) (*Result, error) {
	res := &Result{}
	rec, _, err := in.loadRecord()
	if err != nil {
		return res, err
	}
	if err := in.removeTemps(); err != nil {
		return res, err
	}
	handlers := rec.Handlers
	// The drop-in names our handlers too (a record lost to a crash): those
	// whose shim runs from the install dir.
	dropInHost := in.host(in.dropInPath())
	dropIn, hasDropIn, err := readOptional(in.ops, dropInHost)
	if err != nil {
		return res, err
	}
	if doc, err := parseTOML(dropInHost, dropIn); hasDropIn && err == nil {
		for _, p := range []string{PluginCRIv2, PluginCRIv3} {
			for h, rt := range table(doc, "plugins", p, "containerd", "runtimes") {
				m, _ := rt.(map[string]any)
				if bin, _ := m["runtime_path"].(string); strings.HasPrefix(bin, path.Clean(in.opts.InstallDir)+"/") {
					handlers = sortedUnion(handlers, []string{h})
				}
			}
		}
	}
	res.Handlers = handlers

	var remove []string
	for _, h := range handlers {
		remove = append(remove, wellknown.LabelRuntimePrefix+h)
	}
	// Take the node out of service before touching the host, unless there
	// is nothing of ours on it (a second uninstall changes nothing).
	dst := in.host(in.opts.InstallDir)
	installed := hasDropIn
	for _, p := range []string{in.statePath(""), dst} {
		if _, err := in.ops.Lstat(p); err == nil {
			installed = true
		}
	}
	if installed {
		set := map[string]string{wellknown.LabelKataRuntime: "false", wellknown.LabelSandboxRuntime: wellknown.SandboxRuntimeUninstalling}
		if err := in.applyNode(ctx, NodeChange{Set: set, Remove: remove}); err != nil {
			return res, err
		}
		in.note(ctx, v1.EventTypeNormal, "KataUninstalling", "uninstalling kata", "handlers", fmt.Sprint(handlers))
	}

	configChanged, err := in.restoreConfig(ctx, rec)
	if err != nil {
		return res, err
	}
	if configChanged {
		res.Changed = append(res.Changed, in.opts.ContainerdConfig)
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
		if err := in.restarter.Restart(ctx, in.opts.ContainerdUnit); err != nil {
			return res, err
		}
		res.Restarted = true
		in.note(ctx, v1.EventTypeNormal, "ContainerdRestarted", "restarted containerd", "unit", in.opts.ContainerdUnit)
	}
	if rec.CreatedDropInDir {
		if err := in.ops.Remove(filepath.Dir(dropInHost)); err == nil {
			res.Changed = append(res.Changed, path.Dir(in.dropInPath()))
		} else if !errors.Is(err, fs.ErrNotExist) && !errors.Is(err, syscall.ENOTEMPTY) && !errors.Is(err, syscall.EEXIST) {
			return res, fmt.Errorf("removing %s: %w", filepath.Dir(dropInHost), err)
		}
	}

	// The artifacts: move aside atomically, then delete.
	if _, err := removeIfExists(in.ops, dst+stageSuffix); err != nil {
		return res, err
	}
	if _, err := removeIfExists(in.ops, dst+oldSuffix); err != nil {
		return res, err
	}
	if _, err := in.ops.Lstat(dst); err == nil {
		if _, err := removeIfExists(in.ops, dst+trashSuffix); err != nil {
			return res, err
		}
		if err := in.ops.Rename(dst, dst+trashSuffix); err != nil {
			return res, fmt.Errorf("moving %s aside: %w", dst, err)
		}
		res.Changed = append(res.Changed, in.opts.InstallDir)
		in.note(ctx, v1.EventTypeNormal, "KataArtifactsRemoved", "removed kata artifacts", "path", in.opts.InstallDir)
	}
	if _, err := removeIfExists(in.ops, dst+trashSuffix); err != nil {
		return res, err
	}

	// The bookkeeping goes last: the record, then the backup, then the dir.
	for _, name := range []string{recordFile, backupFile, absentMarker} {
		if _, err := removeIfExists(in.ops, in.statePath(name)); err != nil {
			return res, err
		}
	}
	if _, err := removeIfExists(in.ops, in.statePath("")); err != nil {
		return res, err
	}

	changed, err := in.node.Apply(ctx, NodeChange{Remove: append([]string{wellknown.LabelSandboxRuntime, wellknown.LabelKataRuntime}, remove...)})
	if err != nil {
		return res, err
	}
	if changed || len(res.Changed) > 0 {
		in.note(ctx, v1.EventTypeNormal, "KataUninstalled", "kata uninstalled; node labels removed", "handlers", fmt.Sprint(handlers))
	}
	return res, nil
}

// restoreConfig puts config.toml back as it was before the install.
func (in *Installer) restoreConfig(ctx context.Context, rec record) (bool, error) {
	cfg := in.host(in.opts.ContainerdConfig)
	cur, exists, err := readOptional(in.ops, cfg)
	if err != nil {
		return false, err
	}
	orig, hasBackup, err := readOptional(in.ops, in.statePath(backupFile))
	if err != nil {
		return false, err
	}
	_, wasAbsent, err := readOptional(in.ops, in.statePath(absentMarker))
	if err != nil {
		return false, err
	}
	ours := exists && rec.WrittenConfigSHA256 != "" && sha(cur) == rec.WrittenConfigSHA256
	switch {
	case hasBackup && exists && bytes.Equal(cur, orig):
		return false, nil
	case hasBackup && (ours || !exists):
		if err := writeFileAtomic(in.ops, cfg, orig, 0o644); err != nil {
			return false, fmt.Errorf("restoring %s: %w", in.opts.ContainerdConfig, err)
		}
		in.note(ctx, v1.EventTypeNormal, "ContainerdConfigRestored", "restored containerd's config from the backup", "path", in.opts.ContainerdConfig)
		return true, nil
	case wasAbsent && ours:
		if err := in.ops.Remove(cfg); err != nil {
			return false, fmt.Errorf("removing %s, which the install created: %w", in.opts.ContainerdConfig, err)
		}
		in.note(ctx, v1.EventTypeNormal, "ContainerdConfigRemoved", "removed containerd's config, which the install created", "path", in.opts.ContainerdConfig)
		return true, nil
	case !exists:
		return false, nil
	}
	// config.toml changed since the install (or there is no backup):
	// keep the user's change, remove only our imports entry.
	out, changed, err := withoutImport(cfg, cur, in.dropInPath())
	if err != nil || !changed {
		return false, err
	}
	if err := writeFileAtomic(in.ops, cfg, out, 0o644); err != nil {
		return false, fmt.Errorf("editing %s: %w", in.opts.ContainerdConfig, err)
	}
	in.note(ctx, v1.EventTypeWarning, "ContainerdConfigEdited", "containerd's config changed after the install; kept the change and removed only the drop-in import", "path", in.opts.ContainerdConfig)
	return true, nil
}

func sortedUnion(a, b []string) []string {
	out := slices.Clone(a)
	for _, s := range b {
		if !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	sort.Strings(out)
	return out
}
