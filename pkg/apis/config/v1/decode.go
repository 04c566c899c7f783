package v1

import (
	"encoding/json"
	"errors"
	"fmt"

	"k8s.io/apimachinery/pkg/api/resource"
	kjson "sigs.k8s.io/json"
)

// UnmarshalJSON decodes the args as kube-scheduler decodes its
// configuration (case-sensitive, no unknown or duplicate fields) and names
// the field of a memory quantity that does not parse: the quantity
// parser's own error names none.
func (a *SandboxOverheadArgs) UnmarshalJSON(data []byte) error {
	type plain SandboxOverheadArgs
	strictErrs, err := kjson.UnmarshalStrict(data, (*plain)(a), kjson.DisallowDuplicateFields, kjson.DisallowUnknownFields)
	if err != nil {
		if qerr := badQuantity(data); qerr != nil {
			return qerr
		}
		return err
	}
	if len(strictErrs) > 0 {
		return fmt.Errorf("strict decoding error: %w", errors.Join(strictErrs...))
	}
	return nil
}

// badQuantity returns the first memory quantity of SandboxOverheadArgs
// that does not parse, with its field path.
func badQuantity(data []byte) error {
	var raw struct {
		VFIOPinnedOverhead json.RawMessage              `json:"vfioPinnedOverhead"`
		Profiles           []map[string]json.RawMessage `json:"profiles"`
	}
	if json.Unmarshal(data, &raw) != nil {
		return nil
	}
	check := func(path string, r json.RawMessage) error {
		if r == nil {
			return nil
		}
		var q resource.Quantity
		if err := q.UnmarshalJSON(r); err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		return nil
	}
	if err := check("vfioPinnedOverhead", raw.VFIOPinnedOverhead); err != nil {
		return err
	}
	for i, p := range raw.Profiles {
		for _, f := range []string{"defaultMemory", "overheadMemory", "hostOverhead"} {
			if err := check(fmt.Sprintf("profiles[%d].%s", i, f), p[f]); err != nil {
				return err
			}
		}
	}
	return nil
}
