package drive

import (
	"path/filepath"
	"strings"
)

// BlobDir is where the drive of a node with data directory dataDir keeps
// its files (and, without Config.Key, its signing key).
func BlobDir(dataDir string) string { return filepath.Join(dataDir, "drive") }

// partSuffix ends the name of a file an upload is still writing.
const partSuffix = ".part"

// Unfinished says whether a file in the blob directory is an upload being
// written, or the debris of one, rather than a file the drive keeps.
func Unfinished(name string) bool { return strings.HasSuffix(name, partSuffix) }
