package install

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"path"

	"github.com/mtscn/mtscn/pkg/node/containerd"
)

// Files in the state dir.
const (
	recordFile = "state.json"
	backupFile = "config.toml.orig"
)

// record is what the installer remembers between install and uninstall.
type record struct {
	// Handlers ever installed, so that uninstall removes their labels.
	Handlers []string `json:"handlers"`
	// Added are the runtimes the installer added to containerd's config
	// (its handlers, plus the built-in default runtime it had to spell
	// out on containerd 1.x), by handler.
	Added []string `json:"added,omitempty"`
	// EditedFile is the host path (symlinks resolved) of the user's config
	// file the installer edited: config.toml (imports, or the runtimes on
	// containerd 1.x) or the file holding containerd 1.x's CRI table.
	EditedFile string `json:"editedFile,omitempty"`
	// EditedAbsent is true when the install created EditedFile.
	EditedAbsent bool `json:"editedAbsent,omitempty"`
	// AddedImport is the imports entry the installer added, if any.
	AddedImport string `json:"addedImport,omitempty"`
	// Written are the hashes of every EditedFile content the installer
	// wrote: uninstall restores the backup byte for byte only over one of
	// them, and only when nothing but the installer's additions differ.
	Written []string `json:"written,omitempty"`
	// InstallDirs are the install dirs the installer created and owns.
	InstallDirs []string `json:"installDirs,omitempty"`
	// CreatedDropInDir is true when the install created the drop-in's
	// directory (uninstall removes it when empty).
	CreatedDropInDir bool `json:"createdDropInDir,omitempty"`
	// RolledBack is the plan hash of an install that failed verification
	// and was rolled back: the same plan is not tried again (no restart
	// loop) until something changes.
	RolledBack string `json:"rolledBack,omitempty"`
}

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

func parseTOML(name string, data []byte) (map[string]any, error) {
	return containerd.Parse(name, data)
}
