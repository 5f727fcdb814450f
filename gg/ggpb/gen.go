// Package ggpb holds the Gadu-Gadu 11 protobuf messages (gg.proto) and the Go
// code protoc generates from them. The generated gg.pb.go is checked in;
// regenerate it after editing gg.proto with `go generate ./gg/ggpb` (needs
// protoc and protoc-gen-go at the google.golang.org/protobuf version in
// go.mod).
//
// Required fields mirror libgadu, which drops the session on a message that
// lacks one; proto.Marshal refuses such a message, so a server cannot send
// one by mistake. Decoding what clients send, a server that wants to be
// lenient can use proto.UnmarshalOptions{AllowPartial: true} and check the
// fields it needs itself.
package ggpb

//go:generate protoc --go_out=. --go_opt=paths=source_relative gg.proto
