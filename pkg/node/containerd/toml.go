package containerd

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/pelletier/go-toml/v2"
)

// The CRI plugin that holds the runtimes, by config version.
const (
	// PluginCRIv1 is the CRI plugin in config version 1 (containerd < 1.3 layout).
	PluginCRIv1 = "cri"
	// PluginCRIv2 is the CRI plugin in config version 2 (containerd 1.6/1.7).
	PluginCRIv2 = "io.containerd.grpc.v1.cri"
	// PluginCRIv3 is the CRI runtime plugin in config version 3 (containerd 2.x).
	PluginCRIv3 = "io.containerd.cri.v1.runtime"
)

// CRIPlugin returns the plugin ID whose table holds the CRI runtimes in a
// config of the given version.
func CRIPlugin(version int) string {
	switch {
	case version >= 3:
		return PluginCRIv3
	case version == 2:
		return PluginCRIv2
	}
	return PluginCRIv1
}

// Parse decodes a TOML document. A syntax error names the file, the line
// and the column.
func Parse(name string, data []byte) (map[string]any, error) {
	doc := map[string]any{}
	if err := toml.Unmarshal(data, &doc); err != nil {
		var de *toml.DecodeError
		if errors.As(err, &de) {
			row, col := de.Position()
			return nil, fmt.Errorf("%s is not valid TOML (line %d, column %d): %w", name, row, col, err)
		}
		return nil, fmt.Errorf("%s is not valid TOML: %w", name, err)
	}
	return doc, nil
}

// Marshal encodes a document as TOML with indented tables.
func Marshal(doc map[string]any) ([]byte, error) {
	var buf bytes.Buffer
	enc := toml.NewEncoder(&buf)
	enc.SetIndentTables(true)
	if err := enc.Encode(doc); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// Version reads a document's top-level version (0 when absent).
func Version(name string, doc map[string]any) (int, error) {
	v, ok := doc["version"]
	if !ok {
		return 0, nil
	}
	n, ok := v.(int64)
	if !ok || n < 0 || n > 1000 {
		return 0, fmt.Errorf("%s: version must be a small integer (2 for containerd 1.6/1.7, 3 for 2.x), got %v", name, v)
	}
	return int(n), nil
}

// Table walks nested tables, returning nil when one is missing.
func Table(doc map[string]any, keys ...string) map[string]any {
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

// EnsureTable walks nested tables, creating missing ones (and replacing
// non-table values on the way).
func EnsureTable(doc map[string]any, keys ...string) map[string]any {
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

// StringList reads a TOML array of strings; key names it in errors.
func StringList(name, key string, v any) ([]string, error) {
	if v == nil {
		return nil, nil
	}
	arr, ok := v.([]any)
	if !ok {
		return nil, fmt.Errorf("%s: %s must be an array of strings, got %T", name, key, v)
	}
	out := make([]string, 0, len(arr))
	for _, e := range arr {
		s, ok := e.(string)
		if !ok {
			return nil, fmt.Errorf("%s: %s must be an array of strings, got element %v", name, key, e)
		}
		out = append(out, s)
	}
	return out, nil
}

// DeepCopy copies TOML values (tables and arrays deeply).
func DeepCopy(v any) any {
	switch t := v.(type) {
	case map[string]any:
		m := make(map[string]any, len(t))
		for k, e := range t {
			m[k] = DeepCopy(e)
		}
		return m
	case []any:
		s := make([]any, len(t))
		for i, e := range t {
			s[i] = DeepCopy(e)
		}
		return s
	default:
		return v
	}
}

// DeepMerge merges src into dst: tables merge recursively, other values
// of src replace dst's.
func DeepMerge(dst, src map[string]any) {
	for k, v := range src {
		if sm, ok := v.(map[string]any); ok {
			if dm, ok := dst[k].(map[string]any); ok {
				DeepMerge(dm, sm)
				continue
			}
		}
		dst[k] = DeepCopy(v)
	}
}
