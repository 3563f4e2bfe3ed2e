// Start the real jobd the way the rendered chart does, in a directory set up like the
// Kubernetes volume (a world-writable emptyDir in sidecar mode; a root-owned hostPath prepared
// by the init container in daemonset mode), and probe it the way the kubelet would.
package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
)

type process struct {
	cmd    *exec.Cmd
	log    *bytes.Buffer // filled when the process has exited
	port   chan int
	done   chan error
	exited bool
}

var metricsLine = regexp.MustCompile(`metrics on http://127\.0\.0\.1:(\d+)/metrics`)

func startJobd(bin string, args, env []string, cred *syscall.Credential) (*process, error) {
	p := &process{log: &bytes.Buffer{}, port: make(chan int, 1), done: make(chan error, 1)}
	p.cmd = exec.Command(bin, args...)
	p.cmd.Env = env
	if cred != nil {
		p.cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	}
	stderr, err := p.cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	p.cmd.Stdout = io.Discard
	if err := p.cmd.Start(); err != nil {
		return nil, err
	}
	lines := make(chan string, 1024)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	go func() {
		sent := false
		port := 0
		var all []string
		for l := range lines {
			all = append(all, l)
			if m := metricsLine.FindStringSubmatch(l); m != nil {
				port, _ = strconv.Atoi(m[1])
			}
			// Probe only once the supervisor exists ("starting N workers"): jobd 0.1.0 serves
			// /healthz before that and crashes on a request in that window (Agent::Init).
			if port != 0 && !sent && strings.Contains(l, "jobd: starting ") {
				p.port <- port
				sent = true
			}
		}
		p.log.WriteString(strings.Join(all, "\n"))
		p.done <- p.cmd.Wait()
	}()
	return p, nil
}

// stop sends SIGTERM and waits up to limit for the exit; the error is the exit's.
func (p *process) stop(limit time.Duration) (error, bool) {
	if p.exited {
		return nil, true
	}
	p.exited = true
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-p.done:
		return err, true
	case <-time.After(limit):
		_ = p.cmd.Process.Kill()
		return <-p.done, false
	}
}

func httpStatus(port int, path string) int {
	c := http.Client{Timeout: 2 * time.Second}
	resp, err := c.Get(fmt.Sprintf("http://127.0.0.1:%d%s", port, path))
	if err != nil {
		return 0
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode
}

// mapPath moves a path under the rendered runDir into the test's stand-in for the volume.
func mapPath(s, runDir, volume string) string {
	if s == runDir || strings.HasPrefix(s, runDir+"/") {
		return volume + strings.TrimPrefix(s, runDir)
	}
	return s
}

// jobdCommand turns the rendered container into a local command line and environment.
func jobdCommand(c interface{}, runDir, volume, worker string) ([]string, []string) {
	var args []string
	for _, a := range list(get(c, "args")) {
		s := str(a)
		switch {
		case strings.HasPrefix(s, "--run-dir="):
			s = "--run-dir=" + mapPath(strings.TrimPrefix(s, "--run-dir="), runDir, volume)
		case strings.HasPrefix(s, "--worker-cmd="):
			s = "--worker-cmd=" + worker
		case strings.HasPrefix(s, "--metrics-address="):
			s = "--metrics-address=127.0.0.1:0" // the test's loopback, any free port
		}
		args = append(args, s)
	}
	env := []string{"PATH=/usr/bin:/bin"}
	for _, e := range list(get(c, "env")) {
		env = append(env, str(get(e, "name"))+"="+mapPath(str(get(e, "value")), runDir, volume))
	}
	return args, env
}

func smoke(jobdBin, jobctlBin, workerBin string) {
	for _, b := range []string{jobdBin, jobctlBin, workerBin} {
		if _, err := os.Stat(b); err != nil {
			check("jobd binaries for the start test", false, "%v (build jobd, jobctl and jobd-testworker first)", err)
			return
		}
	}
	asRoot := os.Geteuid() == 0
	smokeMode("sidecar", nil, jobdBin, jobctlBin, workerBin, asRoot)
	smokeMode("sidecar (size classes)", []string{"-f", filepath.Join(testdataDir, "values-classes.yaml")}, jobdBin, jobctlBin, workerBin, asRoot)
	if asRoot {
		smokeMode("daemonset", []string{"-set", "mode=daemonset"}, jobdBin, jobctlBin, workerBin, asRoot)
	} else {
		fmt.Println("skip starting jobd in daemonset mode (the init container's chown needs root)")
	}
}

func smokeMode(mode string, renderArgs []string, jobdBin, jobctlBin, workerBin string, asRoot bool) {
	s := "start jobd as the " + mode + " chart does"
	args := append([]string{"-extra-template", filepath.Join(testdataDir, "arena-bytes.yaml")}, renderArgs...)
	r := render(args...)
	if !check(s+": renders", r.err == nil, "%v %s", r.err, r.stderr) {
		return
	}
	var spec interface{}
	for _, d := range r.docs {
		if d["kind"] == "Deployment" || d["kind"] == "DaemonSet" {
			spec = podSpec(d)
		}
	}
	jobd := named(get(spec, "containers"), "jobd")
	client := named(get(spec, "containers"), "service")
	if client == nil {
		client = jobd // daemonset mode: clients set JOBD_SOCKET as jobd's own env says
	}
	runDir := str(get(named(get(jobd, "volumeMounts"), "jobd-run"), "mountPath"))
	if !check(s+": found the jobd container and its run dir", jobd != nil && runDir != "", "spec %v", spec) {
		return
	}

	tmp, err := os.MkdirTemp("", "jobd-chart-")
	if !check(s+": temp dir", err == nil, "%v", err) {
		return
	}
	defer os.RemoveAll(tmp)
	_ = os.Chmod(tmp, 0755) // the 65532 user must reach the volume below
	volume := filepath.Join(tmp, "volume")
	var cred *syscall.Credential
	uid, _ := get(jobd, "securityContext", "runAsUser").(int)
	gid, _ := get(jobd, "securityContext", "runAsGroup").(int)
	if asRoot {
		cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
	}
	if strings.HasPrefix(mode, "sidecar") {
		// An emptyDir: mode 0777, which jobd refuses as a run dir; the chart points it below.
		_ = os.Mkdir(volume, 0777)
		_ = os.Chmod(volume, 0777)
	} else {
		// A hostPath made by DirectoryOrCreate: root's, 0755. Run the init container's command.
		_ = os.Mkdir(volume, 0755)
		init := named(get(spec, "initContainers"), "run-dir")
		script := mapPath(str(get(init, "command", 2)), runDir, volume)
		script = strings.ReplaceAll(script, runDir+"/", volume+"/")
		out, err := exec.Command("/bin/sh", "-c", script).CombinedOutput()
		if !check(s+": the init container's command prepares the run dir", err == nil, "%v: %s (%s)", err, out, script) {
			return
		}
	}

	args, env := jobdCommand(jobd, runDir, volume, workerBin)
	p, err := startJobd(jobdBin, args, env, cred)
	if !check(s+": jobd starts with the rendered flags", err == nil, "%v", err) {
		return
	}
	port := 0
	select {
	case port = <-p.port:
	case err := <-p.done:
		p.exited = true
		check(s+": jobd starts with the rendered flags", false, "exited: %v\n%s", err, p.log.String())
		return
	case <-time.After(15 * time.Second):
		_, _ = p.stop(time.Second)
		check(s+": jobd starts with the rendered flags", false, "no metrics line in 15s\n%s", p.log.String())
		return
	}
	defer func() { _, _ = p.stop(time.Second) }()

	// The startup and readiness probes: GET /healthz until 200.
	healthy := false
	for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline) && !healthy; time.Sleep(100 * time.Millisecond) {
		healthy = httpStatus(port, "/healthz") == 200
	}
	check(s+": GET /healthz answers 200 (startup and readiness probes)", healthy, "never healthy")
	check(s+": GET /metrics answers 200", httpStatus(port, "/metrics") == 200, "")

	// The liveness probe, and a client: jobctl with the client container's JOBD_SOCKET.
	cmd := list(get(jobd, "livenessProbe", "exec", "command"))
	if len(cmd) >= 2 {
		var out []byte
		var err error
		for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
			probe := exec.Command(jobctlBin, str(cmd[1]))
			probe.Env = []string{"JOBD_SOCKET=" + mapPath(envValue(client, "JOBD_SOCKET"), runDir, volume)}
			if cred != nil {
				probe.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
			}
			if out, err = probe.CombinedOutput(); err == nil {
				break
			}
		}
		check(s+": the liveness probe (jobctl health) passes at the client's JOBD_SOCKET", err == nil, "%v: %s", err, out)
	}

	// The run dir holds only the two sockets: every session's shared memory is a memfd handed
	// over as a descriptor, charged to the pod's memory, never a file in the volume.
	agentDir := mapPath(strings.TrimPrefix(str(list(get(jobd, "args"))[0]), "--run-dir="), runDir, volume)
	var names []string
	if entries, err := os.ReadDir(agentDir); err == nil {
		for _, e := range entries {
			names = append(names, e.Name())
		}
	}
	sort.Strings(names)
	check(s+": the run dir holds the gRPC and side sockets and nothing else", strings.Join(names, ",") == "jobd.side.sock,jobd.sock",
		"found %v", names)
	if fi, err := os.Stat(agentDir); err == nil {
		check(s+": jobd's run dir is private (0750)", fi.Mode().Perm() == 0750, "mode %v", fi.Mode().Perm())
	}

	// SIGTERM drains within --grace and exits 0.
	err, inTime := p.stop(20 * time.Second)
	check(s+": SIGTERM: jobd exits 0 within the termination grace period", inTime && err == nil, "in time %v, exit %v\n%s", inTime, err, p.log.String())
}
