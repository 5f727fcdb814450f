package main

import "github.com/crosstalk-im/crosstalk/msnp/wire"

type msnCmd struct{}

func wireLimits(maxLine int) wire.Limits {
	l := wire.DefaultLimits
	if maxLine > 0 {
		l.MaxLine = maxLine
	}
	return l
}
