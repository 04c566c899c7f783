package install

import (
	"bytes"
	"errors"
	"fmt"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strings"

	"github.com/pelletier/go-toml/v2"
)

// The CRI plugin that holds the runtimes in each containerd config version.
const (
	// PluginCRIv2 is the CRI plugin in config version 2 (containerd 1.6/1.7).
	PluginCRIv2 = "io.containerd.grpc.v1.cri"
	// PluginCRIv3 is the CRI runtime plugin in config version 3 (containerd 2.x).
	PluginCRIv3 = "io.containerd.cri.v1.runtime"
)

// dropInHeader opens the drop-in so that a person who finds it knows who
// owns it. It is a TOML comment; the rest of the file is marshalled.
const dropInHeader = "# Written by mtscn-node install: one runtime per Kata handler.\n" +
	"# mtscn-node uninstall removes this file. Do not edit; edit config.toml instead.\n"

// criPlugin returns the plugin ID whose section holds the runtimes.
func criPlugin(version int) string {
	if version >= 3 {
		return PluginCRIv3
	}
	return PluginCRIv2
}

// tomlError names the file and the position of a TOML syntax error.
func tomlError(path string, err error) error {
	var de *toml.DecodeError
	if errors.As(err, &de) {
		row, col := de.Position()
		return fmt.Errorf("%s is not valid TOML (line %d, column %d); fix the file or restore it, the installer left it untouched: %w", path, row, col, err)
	}
	return fmt.Errorf("%s is not valid TOML; fix the file or restore it, the installer left it untouched: %w", path, err)
}

func parseTOML(path string, data []byte) (map[string]any, error) {
	doc := map[string]any{}
	if err := toml.Unmarshal(data, &doc); err != nil {
		return nil, tomlError(path, err)
	}
	return doc, nil
}

func marshalTOML(doc map[string]any) ([]byte, error) {
	var buf bytes.Buffer
	enc := toml.NewEncoder(&buf)
	enc.SetIndentTables(true)
	if err := enc.Encode(doc); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// configVersion reads the top-level version key (0 when absent).
func configVersion(path string, doc map[string]any) (int, error) {
	v, ok := doc["version"]
	if !ok {
		return 0, nil
	}
	n, ok := v.(int64)
	if !ok {
		return 0, fmt.Errorf("%s: version must be an integer, got %v", path, v)
	}
	return int(n), nil
}

// table walks nested tables, returning nil when one is missing.
func table(doc map[string]any, keys ...string) map[string]any {
	cur := doc
	for _, k := range keys {
		next, ok := cur[k].(map[string]any)
		if !ok {
			return nil
		}
		cur = next
	}
	return cur
}

// ensureTable walks nested tables, creating missing ones.
func ensureTable(doc map[string]any, keys ...string) map[string]any {
	cur := doc
	for _, k := range keys {
		next, ok := cur[k].(map[string]any)
		if !ok {
			next = map[string]any{}
			cur[k] = next
		}
		cur = next
	}
	return cur
}

// stringList reads a TOML array of strings.
func stringList(path, key string, v any) ([]string, error) {
	if v == nil {
		return nil, nil
	}
	arr, ok := v.([]any)
	if !ok {
		return nil, fmt.Errorf("%s: %s must be an array of strings, got %T", path, key, v)
	}
	out := make([]string, 0, len(arr))
	for _, e := range arr {
		s, ok := e.(string)
		if !ok {
			return nil, fmt.Errorf("%s: %s must be an array of strings, got element %v", path, key, e)
		}
		out = append(out, s)
	}
	return out, nil
}

// resolveImport turns one imports entry of the config file at parent
// (a host path) into an absolute host path or glob, as containerd does.
func resolveImport(parent, imp string) string {
	p := filepath.Clean(imp)
	if !filepath.IsAbs(p) {
		p = filepath.Join(filepath.Dir(parent), p)
	}
	return p
}

// importCovers reports whether one imports entry of parent already loads
// file (all host paths).
func importCovers(parent, imp, file string) bool {
	p := resolveImport(parent, imp)
	if strings.Contains(p, "*") {
		ok, err := filepath.Match(p, file)
		return err == nil && ok
	}
	return p == file
}

// loadedFile is one file containerd would load, in load order.
type loadedFile struct {
	hostPath string
	doc      map[string]any
}

// loadChain returns the files containerd loads for the root config, in
// containerd's order (root first, then imports breadth first, globs
// sorted), skipping skip (our own drop-in) and files that do not exist
// (containerd would fail on a missing explicit import; that is not ours to
// fix). root is the already parsed root document.
func (in *Installer) loadChain(rootPath string, root map[string]any, skip string) ([]loadedFile, error) {
	chain := []loadedFile{{hostPath: rootPath, doc: root}}
	loaded := map[string]bool{rootPath: true}
	for i := 0; i < len(chain); i++ {
		imports, err := stringList(chain[i].hostPath, "imports", chain[i].doc["imports"])
		if err != nil {
			return nil, err
		}
		for _, imp := range imports {
			p := resolveImport(chain[i].hostPath, imp)
			var paths []string
			if strings.Contains(p, "*") {
				matches, err := filepath.Glob(in.host(p))
				if err != nil {
					return nil, fmt.Errorf("%s: imports entry %q: %w", chain[i].hostPath, imp, err)
				}
				for _, m := range matches {
					rel, err := filepath.Rel(in.opts.HostRoot, m)
					if err != nil {
						return nil, err
					}
					paths = append(paths, "/"+rel)
				}
				sort.Strings(paths)
			} else {
				paths = []string{p}
			}
			for _, hp := range paths {
				if hp == skip || loaded[hp] {
					continue
				}
				loaded[hp] = true
				data, ok, err := readOptional(in.ops, in.host(hp))
				if err != nil {
					return nil, err
				}
				if !ok {
					continue
				}
				doc, err := parseTOML(in.host(hp), data)
				if err != nil {
					return nil, err
				}
				chain = append(chain, loadedFile{hostPath: hp, doc: doc})
			}
		}
	}
	return chain, nil
}

// effectivePlugins merges the plugins tables of a load chain the way the
// given containerd config version does: version 2 (containerd 1.6/1.7)
// replaces a whole plugin section with the last file's, version 3
// (containerd 2.x) merges them key by key.
func effectivePlugins(chain []loadedFile, version int) map[string]any {
	out := map[string]any{}
	for _, f := range chain {
		plugins := table(f.doc, "plugins")
		for id, sec := range plugins {
			if version >= 3 {
				if dst, ok := out[id].(map[string]any); ok {
					if src, ok := sec.(map[string]any); ok {
						deepMerge(dst, src)
						continue
					}
				}
			}
			out[id] = deepCopy(sec)
		}
	}
	return out
}

func deepMerge(dst, src map[string]any) {
	for k, v := range src {
		if sm, ok := v.(map[string]any); ok {
			if dm, ok := dst[k].(map[string]any); ok {
				deepMerge(dm, sm)
				continue
			}
		}
		dst[k] = deepCopy(v)
	}
}

func deepCopy(v any) any {
	switch t := v.(type) {
	case map[string]any:
		m := make(map[string]any, len(t))
		for k, e := range t {
			m[k] = deepCopy(e)
		}
		return m
	case []any:
		s := make([]any, len(t))
		for i, e := range t {
			s[i] = deepCopy(e)
		}
		return s
	default:
		return v
	}
}

// runtimeEntry is the containerd runtime table for one Kata shim.
func (in *Installer) runtimeEntry(s Shim) map[string]any {
	return map[string]any{
		"runtime_type":                    "io.containerd.kata-" + s.Name + ".v2",
		"runtime_path":                    s.BinaryPath,
		"privileged_without_host_devices": true,
		"pod_annotations":                 []any{"io.katacontainers.*"},
		"options": map[string]any{
			"ConfigPath": s.ConfigPath,
		},
	}
}

// containerdPlan is what the installer wants containerd's files to be.
type containerdPlan struct {
	version int
	// configOld is config.toml as found (nil and configExists false when
	// absent); configNew is what it should be (equal when no change).
	configOld, configNew []byte
	configExists         bool
	// dropIn is the drop-in file's desired content.
	dropIn []byte
	// handlers we define; userHandlers already configured by someone else
	// (kept as they are).
	handlers, userHandlers []string
}

// planContainerd reads containerd's configuration and computes the drop-in
// and config.toml it needs. It changes nothing.
func (in *Installer) planContainerd(shims []Shim) (*containerdPlan, error) {
	cfgHost := in.opts.ContainerdConfig
	cfgPath := in.host(cfgHost)
	dropInHost := in.dropInPath()
	old, exists, err := readOptional(in.ops, cfgPath)
	if err != nil {
		return nil, err
	}
	root := map[string]any{}
	if exists {
		if root, err = parseTOML(cfgPath, old); err != nil {
			return nil, err
		}
	}
	version, err := configVersion(cfgPath, root)
	if err != nil {
		return nil, err
	}
	newRoot := deepCopy(root).(map[string]any)
	switch {
	case version == 2 || version == 3:
	case version == 0 && len(root) == 0:
		// No config (or an empty one): containerd runs on defaults. A
		// version 2 config is read by containerd 1.6, 1.7 and 2.x alike.
		version = in.opts.ConfigVersion
		if version == 0 {
			version = 2
		}
		newRoot["version"] = int64(version)
	default:
		return nil, fmt.Errorf("%s: containerd config version %d is not supported; migrate it with `containerd config migrate` to version 2 (containerd 1.6/1.7) or 3 (containerd 2.x)", cfgPath, version)
	}

	chain, err := in.loadChain(cfgHost, root, dropInHost)
	if err != nil {
		return nil, err
	}
	plugins := effectivePlugins(chain, version)
	plugin := criPlugin(version)
	existing := table(plugins, plugin, "containerd", "runtimes")

	plan := &containerdPlan{version: version, configOld: old, configExists: exists}
	dropIn := map[string]any{"version": int64(version)}
	var section map[string]any
	if version >= 3 {
		// containerd 2.x merges plugin sections key by key: the drop-in
		// carries only our runtimes.
		section = map[string]any{}
	} else {
		// containerd 1.6/1.7 replace a whole plugin section with the last
		// file's: the drop-in must carry the effective CRI section (the
		// user's settings) plus our runtimes, or it would wipe them.
		section, _ = deepCopy(table(plugins, plugin)).(map[string]any)
		if section == nil {
			section = map[string]any{}
		}
	}
	runtimes := ensureTable(section, "containerd", "runtimes")
	for _, s := range shims {
		h := s.Handler()
		if _, ok := existing[h]; ok {
			plan.userHandlers = append(plan.userHandlers, h)
			continue
		}
		runtimes[h] = in.runtimeEntry(s)
		plan.handlers = append(plan.handlers, h)
	}
	ensureTable(dropIn, "plugins")[plugin] = section
	body, err := marshalTOML(dropIn)
	if err != nil {
		return nil, fmt.Errorf("encoding the drop-in %s: %w", dropInHost, err)
	}
	plan.dropIn = append([]byte(dropInHeader), body...)
	// Parse what we are about to write: it must be TOML, and list our runtimes.
	check, err := parseTOML(in.host(dropInHost), plan.dropIn)
	if err != nil {
		return nil, fmt.Errorf("the generated drop-in does not parse (a bug): %w", err)
	}
	for _, h := range plan.handlers {
		if table(check, "plugins", plugin, "containerd", "runtimes", h) == nil {
			return nil, fmt.Errorf("the generated drop-in lacks runtime %s (a bug)", h)
		}
	}

	imports, err := stringList(cfgPath, "imports", root["imports"])
	if err != nil {
		return nil, err
	}
	covered := slices.ContainsFunc(imports, func(imp string) bool { return importCovers(cfgHost, imp, dropInHost) })
	if !covered {
		newImports := make([]any, 0, len(imports)+1)
		for _, imp := range imports {
			newImports = append(newImports, imp)
		}
		newRoot["imports"] = append(newImports, dropInHost)
	}
	if reflect.DeepEqual(newRoot, root) && exists {
		plan.configNew = old
	} else {
		if plan.configNew, err = marshalTOML(newRoot); err != nil {
			return nil, fmt.Errorf("encoding %s: %w", cfgPath, err)
		}
		reparsed, err := parseTOML(cfgPath, plan.configNew)
		if err != nil {
			return nil, fmt.Errorf("the edited config does not parse (a bug): %w", err)
		}
		if !reflect.DeepEqual(reparsed, newRoot) {
			return nil, fmt.Errorf("editing %s would change more than imports (a bug); refusing", cfgPath)
		}
	}
	return plan, nil
}

// withoutImport returns config.toml's content with our imports entry
// removed, re-encoded as TOML, or the content unchanged when it has no such
// entry. Uninstall uses it when config.toml was edited after the install,
// so that restoring the backup would lose the user's change.
func withoutImport(path string, data []byte, dropInHost string) ([]byte, bool, error) {
	doc, err := parseTOML(path, data)
	if err != nil {
		return nil, false, err
	}
	imports, err := stringList(path, "imports", doc["imports"])
	if err != nil {
		return nil, false, err
	}
	if !slices.Contains(imports, dropInHost) {
		return data, false, nil
	}
	kept := []any{}
	for _, imp := range imports {
		if imp != dropInHost {
			kept = append(kept, imp)
		}
	}
	if len(kept) == 0 {
		delete(doc, "imports")
	} else {
		doc["imports"] = kept
	}
	out, err := marshalTOML(doc)
	if err != nil {
		return nil, false, fmt.Errorf("encoding %s: %w", path, err)
	}
	if _, err := parseTOML(path, out); err != nil {
		return nil, false, fmt.Errorf("the edited config does not parse (a bug): %w", err)
	}
	return out, true, nil
}
