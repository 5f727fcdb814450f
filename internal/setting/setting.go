// Package setting fills in the defaults of the services' configurations.
package setting

import "cmp"

// Default sets *v to d when it is zero or negative (or an empty string):
// a limit left unset, or set to nonsense, takes its safe default.
func Default[T cmp.Ordered](v *T, d T) {
	var zero T
	if *v <= zero {
		*v = d
	}
}
