package validation_test

import (
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/mtscn/mtscn/pkg/apis/config/validation"
	"github.com/mtscn/mtscn/pkg/vmsize"
)

func TestValidateSandboxOverheadProfileHandlers(t *testing.T) {
	args, err := vmsize.DefaultArgs()
	if err != nil {
		t.Fatal(err)
	}
	if err := validation.ValidateSandboxOverheadArgs(field.NewPath("args"), args); err != nil {
		t.Fatalf("default args are invalid: %v", err)
	}
	args.Profiles[0].Handler = "runc"
	err = validation.ValidateSandboxOverheadArgs(field.NewPath("args"), args)
	if err == nil {
		t.Fatal("a profile for a handler that is not sandboxed was accepted")
	}
	for _, want := range []string{"args.profiles[0].handler", "sandboxedHandlers"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
}
