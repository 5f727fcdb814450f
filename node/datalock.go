package node

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// lockFile is the file in the data directory that a node with the embedded
// bus holds an exclusive lock on for as long as it runs. The embedded NATS
// server's state and the SQLite database in one directory serve one process:
// a second one would split the service in two without a word.
const lockFile = "serve.lock"

// DataDirInUseError says that another process serves the data directory.
type DataDirInUseError struct {
	Dir string
	PID int // 0 when the holder has not written its pid yet
}

func (e *DataDirInUseError) Error() string {
	holder := "another crosstalk process"
	if e.PID > 0 {
		holder += " (pid " + strconv.Itoa(e.PID) + ")"
	}
	return fmt.Sprintf("data directory %s is in use: %s serves it with the embedded bus; "+
		"stop that one, or give this one another --data (several nodes share a service through --nats)", e.Dir, holder)
}

// lockDataDir takes the data directory's lock without waiting. The lock is
// an flock, which the kernel releases when the process ends however it ends,
// so a crash leaves nothing to clean up. The file is never removed: a
// process waiting to lock it would otherwise hold a lock on a deleted file.
func lockDataDir(dir string) (*os.File, error) {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(filepath.Join(dir, lockFile), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("data directory lock: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		defer f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, &DataDirInUseError{Dir: dir, PID: lockHolder(f)}
		}
		return nil, fmt.Errorf("data directory lock %s: %w", f.Name(), err)
	}
	// The pid is for the message a second process prints; the lock alone
	// decides who holds the directory.
	if err := f.Truncate(0); err == nil {
		_, _ = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	return f, nil
}

// lockHolder is the pid the holder wrote into the lock file, if any.
func lockHolder(f *os.File) int {
	buf := make([]byte, 32)
	n, _ := f.ReadAt(buf, 0)
	pid, err := strconv.Atoi(strings.TrimSpace(string(buf[:n])))
	if err != nil {
		return 0
	}
	return pid
}
