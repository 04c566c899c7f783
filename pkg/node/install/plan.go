package install

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"reflect"
	"slices"
	"sort"

	"github.com/mtscn/mtscn/pkg/node/containerd"
)

// Layouts of the installer's runtimes in containerd's configuration.
const (
	// LayoutInline (containerd 1.x): the runtimes go into the user's file
	// that holds the CRI plugin table (config.toml unless a later import
	// defines that table). containerd 1.x replaces a whole plugin table
	// with each later file's, so a drop-in would have to carry a frozen
	// copy of the user's CRI settings; inline, the user's file stays the
	// one containerd reads them from.
	LayoutInline = "inline"
	// LayoutDropIn (containerd 2.x): the runtimes go into the installer's
	// own drop-in, imported by config.toml; 2.x merges it key by key.
	LayoutDropIn = "drop-in"
)

// dropInHeader opens the drop-in so that a person who finds it knows who
// owns it. It is a TOML comment; the rest of the file is marshalled.
const dropInHeader = "# Written by mtscn-node install: one runtime per sandbox handler.\n" +
	"# mtscn-node uninstall removes this file. Do not edit; edit config.toml instead.\n"

// builtinDefaultRuntime is containerd's built-in default runtime, which
// containerd 1.x drops as soon as a config defines any runtime table.
var builtinDefaultRuntime = map[string]any{"runtime_type": runcShimType}

// containerdPlan is what the installer wants containerd's files to be.
type containerdPlan struct {
	version, major int
	layout         string
	cri            string
	// The user's file the installer edits ("" when none): its host path
	// with symlinks resolved, content now and wanted, mode and owner.
	editPath         string
	editOld, editNew []byte
	editExists       bool
	editMode         fs.FileMode
	uid, gid         int
	// The drop-in: content now and wanted (nil: must not exist).
	dropInOld    []byte
	dropInExists bool
	dropIn       []byte
	// handlers we define (with the runtime_type each must be served with);
	// userHandlers are already configured by someone else (kept as they
	// are); added are the runtimes we write (handlers plus, on 1.x, the
	// built-in default when it must be spelled out).
	handlers     []string
	types        map[string]string
	userHandlers []string
	added        []string
	addedImport  string
	// chainServed are the runtimes containerd serves with the current
	// files, as far as the files tell (the CRI is asked first).
	chainServed []string
	hash        string
}

// planContainerd reads containerd's config chain and computes the file
// edits the runtimes need. It changes nothing. major is containerd's
// major version (0: infer from the config version).
func (in *Installer) planContainerd(sbs []Sandbox, rec record, major int) (*containerdPlan, error) {
	cfg := path.Clean(in.opts.ContainerdConfig)
	chain, err := containerd.Load(cfg, containerd.Options{Root: in.root(), Major: major, Skip: in.dropInPath()})
	exists := len(chain.Files) > 0
	if err != nil && (exists || !errors.Is(err, fs.ErrNotExist)) {
		return nil, fmt.Errorf("reading containerd's configuration; fix it first, the installer changed nothing: %w", err)
	}
	p := &containerdPlan{version: chain.Version, major: major, types: map[string]string{}}
	if exists {
		switch {
		case p.version == 2 || p.version == 3:
		case p.version == 0 && len(chain.Files[0].Doc) == 0:
			p.version = 0 // an empty file: as if there were none
		default:
			return nil, fmt.Errorf("%s: containerd config version %d is not supported; migrate it with `containerd config migrate` to version 2 (containerd 1.6/1.7) or 3 (containerd 2.x)", cfg, p.version)
		}
	}
	if p.version == 0 {
		switch {
		case in.opts.ConfigVersion != 0:
			p.version = in.opts.ConfigVersion
		case major >= 2:
			p.version = 3
		default:
			p.version = 2
		}
	}
	if p.major == 0 {
		p.major = containerd.InferMajor(p.version)
	}
	if p.major < 2 && p.version >= 3 {
		return nil, fmt.Errorf("%s is a version 3 config, which containerd 1.x cannot read; set --containerd-major=2 if containerd is 2.x", cfg)
	}
	chain.Major = p.major
	p.cri = containerd.CRIPlugin(p.version)

	existing := chain.Runtimes()
	var ours []Runtime
	for _, s := range sbs {
		for _, r := range s.Runtimes {
			if _, ok := existing[r.Handler]; ok && !slices.Contains(rec.Added, r.Handler) {
				p.userHandlers = append(p.userHandlers, r.Handler)
				continue
			}
			ours = append(ours, r)
			p.handlers = append(p.handlers, r.Handler)
			p.types[r.Handler] = typePrefix(r)
		}
	}
	// What containerd serves with the files as they are, minus our own.
	userRuntimes := map[string]any{}
	for h, v := range existing {
		if !slices.Contains(rec.Added, h) {
			userRuntimes[h] = v
		}
	}
	for h := range userRuntimes {
		p.chainServed = append(p.chainServed, h)
	}
	if _, ok := userRuntimes["runc"]; !ok && (len(userRuntimes) == 0 || p.major >= 2) {
		p.chainServed = append(p.chainServed, "runc")
	}
	sort.Strings(p.chainServed)

	// The file to edit, and its new content.
	target := 0
	if p.major < 2 {
		p.layout = LayoutInline
		if i := chain.LastDefining(p.cri); i > 0 {
			target = i
		}
	} else {
		p.layout = LayoutDropIn
	}
	var doc map[string]any
	if exists {
		f := chain.Files[target]
		p.editPath, p.editOld, p.editExists = f.Real, f.Data, true
		p.editMode, p.uid, p.gid = f.Mode, f.UID, f.GID
		doc = f.Doc
	} else {
		real, err := in.root().Resolve(cfg)
		if err != nil {
			return nil, err
		}
		p.editPath, p.editMode, p.uid, p.gid = real, 0o644, -1, -1
		doc = map[string]any{"version": int64(p.version)}
	}
	newDoc := containerd.DeepCopy(doc).(map[string]any)
	if !exists {
		newDoc = map[string]any{"version": int64(p.version)}
	}
	dropInOld, dropInExists, err := readOptional(in.ops, in.host(in.dropInPath()))
	if err != nil {
		return nil, err
	}
	p.dropInOld, p.dropInExists = dropInOld, dropInExists

	switch p.layout {
	case LayoutInline:
		runtimes := containerd.EnsureTable(newDoc, "plugins", p.cri, "containerd", "runtimes")
		for _, h := range rec.Added {
			delete(runtimes, h)
		}
		for _, r := range ours {
			runtimes[r.Handler] = containerd.DeepCopy(r.Entry)
			p.added = append(p.added, r.Handler)
		}
		// containerd 1.x serves its built-in runc only while no file
		// defines a runtime: spell it out, or the node loses runc.
		if len(userRuntimes) == 0 && len(ours) > 0 {
			def := chain.DefaultRuntimeName()
			if def != "runc" {
				return nil, fmt.Errorf("containerd's default_runtime_name is %q but no file defines it; fix containerd's config first", def)
			}
			runtimes[def] = containerd.DeepCopy(builtinDefaultRuntime)
			p.added = append(p.added, def)
		}
		if len(runtimes) == 0 {
			pruneEmpty(newDoc)
		}
		if rec.AddedImport != "" {
			removeImport(newDoc, rec.AddedImport)
		}
	case LayoutDropIn:
		for _, r := range ours {
			p.added = append(p.added, r.Handler)
		}
		drop := map[string]any{"version": int64(p.version)}
		runtimes := containerd.EnsureTable(drop, "plugins", p.cri, "containerd", "runtimes")
		for _, r := range ours {
			runtimes[r.Handler] = containerd.DeepCopy(r.Entry)
		}
		if len(ours) > 0 {
			body, err := containerd.Marshal(drop)
			if err != nil {
				return nil, fmt.Errorf("encoding the drop-in %s: %w", in.dropInPath(), err)
			}
			p.dropIn = append([]byte(dropInHeader), body...)
		}
		// Remove runtimes an earlier inline install put into this file.
		if rt := containerd.Table(newDoc, "plugins", p.cri, "containerd", "runtimes"); rt != nil {
			for _, h := range rec.Added {
				delete(rt, h)
			}
			pruneEmpty(newDoc)
		}
		imports, err := containerd.StringList(cfg, "imports", newDoc["imports"])
		if err != nil {
			return nil, err
		}
		covered := slices.ContainsFunc(imports, func(imp string) bool {
			return containerd.Covers(cfg, imp, in.dropInPath(), p.major, "")
		})
		if !covered && len(ours) > 0 {
			list := make([]any, 0, len(imports)+1)
			for _, imp := range imports {
				list = append(list, imp)
			}
			newDoc["imports"] = append(list, in.dropInPath())
			p.addedImport = in.dropInPath()
		} else if covered {
			p.addedImport = rec.AddedImport
		}
	}
	if exists && reflect.DeepEqual(newDoc, doc) {
		p.editNew = p.editOld
	} else {
		if p.editNew, err = containerd.Marshal(newDoc); err != nil {
			return nil, fmt.Errorf("encoding %s: %w", p.editPath, err)
		}
		reparsed, err := containerd.Parse(p.editPath, p.editNew)
		if err != nil || !reflect.DeepEqual(reparsed, newDoc) {
			return nil, fmt.Errorf("re-encoding %s would change more than the installer's runtimes and imports (a bug); refusing: %v", p.editPath, err)
		}
	}
	if !exists && len(ours) == 0 {
		p.editNew = nil // nothing to install: do not create config.toml
	}
	h, _ := json.Marshal([]any{p.editPath, sha(p.editOld), sha(p.editNew), sha(p.dropIn), ours})
	p.hash = sha(h)
	return p, nil
}

// editChanges reports whether the plan changes the edited file.
func (p *containerdPlan) editChanges() bool {
	if p.editNew == nil {
		return false
	}
	return !p.editExists || string(p.editOld) != string(p.editNew)
}

// dropInChanges reports whether the plan changes the drop-in.
func (p *containerdPlan) dropInChanges() bool {
	if p.dropIn == nil {
		return p.dropInExists
	}
	return !p.dropInExists || string(p.dropInOld) != string(p.dropIn)
}

// pruneEmpty removes tables that became empty along the CRI runtimes path
// (and any other empty table below plugins).
func pruneEmpty(doc map[string]any) {
	var prune func(m map[string]any)
	prune = func(m map[string]any) {
		for k, v := range m {
			if t, ok := v.(map[string]any); ok {
				prune(t)
				if len(t) == 0 {
					delete(m, k)
				}
			}
		}
	}
	if plugins, ok := doc["plugins"].(map[string]any); ok {
		prune(plugins)
		if len(plugins) == 0 {
			delete(doc, "plugins")
		}
	}
}

// removeImport drops one imports entry (and the key when it empties).
func removeImport(doc map[string]any, imp string) {
	list, ok := doc["imports"].([]any)
	if !ok {
		return
	}
	kept := []any{}
	for _, e := range list {
		if s, _ := e.(string); s != imp {
			kept = append(kept, e)
		}
	}
	if len(kept) == 0 {
		delete(doc, "imports")
	} else {
		doc["imports"] = kept
	}
}

// stripOurs returns doc without what the installer added: its runtimes
// under every CRI plugin id and its imports entry, with emptied tables
// pruned.
func stripOurs(doc map[string]any, rec record) map[string]any {
	out := containerd.DeepCopy(doc).(map[string]any)
	for _, id := range []string{containerd.PluginCRIv2, containerd.PluginCRIv3} {
		if rt := containerd.Table(out, "plugins", id, "containerd", "runtimes"); rt != nil {
			for _, h := range rec.Added {
				delete(rt, h)
			}
		}
	}
	if rec.AddedImport != "" {
		removeImport(out, rec.AddedImport)
	}
	pruneEmpty(out)
	return out
}

// sameMeaning compares two documents with empty plugin tables pruned.
func sameMeaning(a, b map[string]any) bool {
	a = containerd.DeepCopy(a).(map[string]any)
	b = containerd.DeepCopy(b).(map[string]any)
	pruneEmpty(a)
	pruneEmpty(b)
	return reflect.DeepEqual(a, b)
}
