package setting

import (
	"testing"
	"time"
)

func TestDefault(t *testing.T) {
	n, neg, set := 0, -3, 7
	Default(&n, 5)
	Default(&neg, 5)
	Default(&set, 5)
	if n != 5 || neg != 5 || set != 7 {
		t.Fatalf("ints: %d %d %d", n, neg, set)
	}
	d := time.Duration(0)
	Default(&d, time.Second)
	empty, name := "", "given"
	Default(&empty, "default")
	Default(&name, "default")
	if d != time.Second || empty != "default" || name != "given" {
		t.Fatalf("%v %q %q", d, empty, name)
	}
}
