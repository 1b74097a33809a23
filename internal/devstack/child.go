package devstack

import (
	"fmt"
	"io"
	"os/exec"
	"syscall"
	"time"
)

// child is one run of a command in its own process group.
type child struct {
	cmd  *exec.Cmd
	done chan struct{} // closed when cmd has exited
	err  error         // cmd's exit status, set before done is closed
}

// startChild starts cmd in a process group of its own (so that a terminal's
// Ctrl-C reaches only us, and we stop it in order), with env (nil: ours) and
// its output to log (nil: discarded).
func startChild(cmd *exec.Cmd, env []string, log io.Writer) (*child, error) {
	cmd.Env = env
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if log != nil {
		cmd.Stdout, cmd.Stderr = log, log
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", cmd.Path, err)
	}
	c := &child{cmd: cmd, done: make(chan struct{})}
	go func() {
		c.err = cmd.Wait()
		close(c.done)
	}()
	return c, nil
}

// exited reports whether the process has exited.
func (c *child) exited() bool {
	select {
	case <-c.done:
		return true
	default:
		return false
	}
}

// signal sends sig to the process group.
func (c *child) signal(sig syscall.Signal) {
	_ = syscall.Kill(-c.cmd.Process.Pid, sig)
}

// stop interrupts the process group, kills it after grace, and waits.
func (c *child) stop(grace time.Duration) {
	if c.exited() {
		return
	}
	c.signal(syscall.SIGINT)
	select {
	case <-c.done:
	case <-time.After(grace):
		c.signal(syscall.SIGKILL)
		<-c.done
	}
}

// kill kills the process group at once and waits.
func (c *child) kill() {
	c.signal(syscall.SIGKILL)
	<-c.done
}
