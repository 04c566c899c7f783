package validation_test

import (
	"strings"
	"testing"
)

// TestSandboxFeaturesArgs covers the SandboxFeatures-specific checks: a
// {handler} key in a device requirement that can reach runc pods, and
// weights reported in a stable order.
func TestSandboxFeaturesArgs(t *testing.T) {
	for _, tc := range []struct {
		name, args string
		want       []string // substrings of the error; none for valid args
	}{
		{"handler key in a sandboxed-only device requirement", "      deviceRequirements:\n      - resources: [qat.intel.com/*]\n        sandboxedOnly: true\n        requirements:\n        - name: \"{handler} qat\"\n          matchExpressions: [{key: \"example.com/qat.{handler}\", operator: Exists}]\n", nil},
		{"handler key in a device requirement for every pod", "      deviceRequirements:\n      - resources: [qat.intel.com/*]\n        requirements:\n        - name: qat\n          matchExpressions: [{key: \"example.com/qat.{handler}\", operator: Exists}]\n",
			[]string{"args.deviceRequirements[0].requirements[0].matchExpressions[0].key", "set sandboxedOnly: true"}},
		{"weights out of range, in field order", "      virtModeWeights: {hardware: 101, pvm: -1, nested: 200}\n",
			[]string{"args.virtModeWeights.hardware: Invalid value: 101: must be between 0 and 100, args.virtModeWeights.pvm: Invalid value: -1: must be between 0 and 100, args.virtModeWeights.nested: Invalid value: 200"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := validate(t, "SandboxFeatures", tc.args)
			if len(tc.want) == 0 {
				if err != nil {
					t.Fatalf("valid args refused: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("invalid args accepted, want an error with %q", tc.want)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}
