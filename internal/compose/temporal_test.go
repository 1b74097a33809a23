package compose

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/withings-plus/subscriptions/api"
	"github.com/withings-plus/subscriptions/internal/gotool"
)

// The Temporal server of the stack is built and run from deploy/temporal,
// the same files scripts/temporal-postgres.sh uses without Docker. These
// checks hold the three together: versions, go install lines, schema steps,
// server flags, configuration and search attributes.
var (
	temporalDir            = filepath.Join(repoRoot, "deploy", "temporal")
	temporalDockerfilePath = filepath.Join(temporalDir, "Dockerfile")
	versionsPath           = filepath.Join(temporalDir, "versions.env")
	setupSchemaPath        = filepath.Join(temporalDir, "setup-schema.sh")
	registerPath           = filepath.Join(temporalDir, "register.sh")
	dynamicConfigPath      = filepath.Join(temporalDir, "dynamicconfig.yaml")
	postgresScriptPath     = filepath.Join(repoRoot, "scripts", "temporal-postgres.sh")
)

// Repository-relative names, as docker-compose.yml and the Dockerfile write them.
const (
	temporalDeploy     = "deploy/temporal"
	temporalDockerfile = temporalDeploy + "/Dockerfile"
)

// The services that run the Temporal image, in the order they run.
var temporalServices = []string{svcSchema, svcTemporal, svcRegister}

func readText(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// temporalVersions reads deploy/temporal/versions.env (KEY=VALUE lines).
func temporalVersions(t *testing.T) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, line := range strings.Split(readText(t, versionsPath), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			t.Fatalf("%s: %q is not KEY=VALUE", versionsPath, line)
		}
		out[k] = strings.Trim(v, `"'`)
	}
	for _, k := range []string{"TEMPORAL_SERVER_VERSION", "TEMPORAL_CLI_VERSION"} {
		if out[k] == "" {
			t.Fatalf("%s: no %s", versionsPath, k)
		}
	}
	return out
}

var bracedVar = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)\}`)

// normalizeShell writes ${VAR} as $VAR and drops quotes, so that a
// Dockerfile's and a script's spellings of one command compare equal.
func normalizeShell(s string) string {
	s = bracedVar.ReplaceAllString(s, "$$$1")
	return strings.NewReplacer(`"`, "", `'`, "").Replace(s)
}

// dockerStage is one FROM of a Dockerfile and the instructions after it.
type dockerStage struct {
	from, name string
	ins        []string
}

func dockerStages(t *testing.T, ins []string) []dockerStage {
	t.Helper()
	var stages []dockerStage
	for _, in := range ins {
		f := strings.Fields(in)
		if strings.EqualFold(f[0], "FROM") {
			var args []string
			for _, a := range f[1:] {
				if !strings.HasPrefix(a, "--") {
					args = append(args, a)
				}
			}
			st := dockerStage{from: args[0]}
			if len(args) == 3 && strings.EqualFold(args[1], "AS") {
				st.name = args[2]
			}
			stages = append(stages, st)
			continue
		}
		if len(stages) > 0 {
			stages[len(stages)-1].ins = append(stages[len(stages)-1].ins, in)
		}
	}
	if len(stages) < 2 {
		t.Fatalf("%s has stages %v, want a build stage and a runtime stage", temporalDockerfilePath, stages)
	}
	return stages
}

// dockerArgDefaults returns the default of every ARG NAME=default.
func dockerArgDefaults(ins []string) map[string]string {
	out := map[string]string{}
	for _, in := range ins {
		f := strings.Fields(in)
		if !strings.EqualFold(f[0], "ARG") {
			continue
		}
		for _, a := range f[1:] {
			if k, v, ok := strings.Cut(a, "="); ok {
				out[k] = strings.Trim(v, `"'`)
			} else if _, seen := out[a]; !seen {
				out[a] = ""
			}
		}
	}
	return out
}

// dockerCopy is one COPY: from a stage (--from) or the build context.
type dockerCopy struct {
	from string
	srcs []string
	dest string
}

func stageCopies(t *testing.T, st dockerStage) []dockerCopy {
	t.Helper()
	var out []dockerCopy
	for _, in := range st.ins {
		f := strings.Fields(in)
		if !strings.EqualFold(f[0], "COPY") {
			continue
		}
		var c dockerCopy
		var paths []string
		rest := strings.TrimSpace(in[len(f[0]):])
		for strings.HasPrefix(rest, "--") {
			flag, after, _ := strings.Cut(rest, " ")
			if v, ok := strings.CutPrefix(flag, "--from="); ok {
				c.from = v
			}
			rest = strings.TrimSpace(after)
		}
		if strings.HasPrefix(rest, "[") {
			if err := json.Unmarshal([]byte(rest), &paths); err != nil {
				t.Fatalf("%s: %q: %v", temporalDockerfilePath, in, err)
			}
		} else {
			paths = strings.Fields(rest)
		}
		if len(paths) < 2 {
			t.Fatalf("%s: %q has no source or destination", temporalDockerfilePath, in)
		}
		c.srcs, c.dest = paths[:len(paths)-1], paths[len(paths)-1]
		out = append(out, c)
	}
	return out
}

// temporalImage is what the Temporal Dockerfile says about its image.
type temporalImage struct {
	stages   []dockerStage
	args     map[string]string
	runtime  dockerStage
	copies   []dockerCopy // the runtime stage's
	buildRun string       // the RUN instructions of the other stages, normalized
}

func loadTemporalImage(t *testing.T) temporalImage {
	t.Helper()
	ins := dockerInstructionsOf(t, temporalDockerfilePath)
	img := temporalImage{stages: dockerStages(t, ins), args: dockerArgDefaults(ins)}
	img.runtime = img.stages[len(img.stages)-1]
	img.copies = stageCopies(t, img.runtime)
	var runs []string
	for _, st := range img.stages[:len(img.stages)-1] {
		for _, in := range st.ins {
			if f := strings.Fields(in); strings.EqualFold(f[0], "RUN") {
				runs = append(runs, normalizeShell(in))
			}
		}
	}
	img.buildRun = strings.Join(runs, "\n")
	return img
}

// contextPath returns where the image holds a file of the build context
// (repository-relative path), or "".
func (img temporalImage) contextPath(src string) string {
	for _, c := range img.copies {
		if c.from != "" {
			continue
		}
		for _, s := range c.srcs {
			if path.Clean(s) == src {
				return c.dest
			}
		}
	}
	return ""
}

// builtPath returns where the image holds a file of a build stage whose
// name (last element) is base, or "".
func (img temporalImage) builtPath(base string) string {
	for _, c := range img.copies {
		if c.from == "" {
			continue
		}
		for _, s := range c.srcs {
			if path.Base(s) == base {
				return c.dest
			}
		}
	}
	return ""
}

var goInstallRE = regexp.MustCompile(`\bgo\s+install\s+(?:-\S+\s+)*([^\s;&|)]+)`)

// goInstalls returns the module@version of every go install in text.
func goInstalls(text string) []string {
	var out []string
	for _, m := range goInstallRE.FindAllStringSubmatch(normalizeShell(text), -1) {
		out = append(out, m[1])
	}
	sort.Strings(out)
	return out
}

var modDownloadRE = regexp.MustCompile(`\bgo\s+mod\s+download\s+-json\s+([^\s;&|)]+)`)

// scriptBuild is one `build "$var" "module@version"` of the script: the
// binary's name in the cache, its version suffix removed.
type scriptBuild struct {
	variable, name, module string
}

var (
	scriptBuildRE  = regexp.MustCompile(`(?m)^\s*build\s+"\$(\w+)"\s+"([^"]+)"`)
	versionSuffix  = regexp.MustCompile(`-\$[A-Z_]+$`)
	scriptDeployRE = regexp.MustCompile(`(?m)^deploy="\$here/([^"]+)"`)
)

func scriptBuilds(t *testing.T, script string) []scriptBuild {
	t.Helper()
	var out []scriptBuild
	for _, m := range scriptBuildRE.FindAllStringSubmatch(script, -1) {
		assign := regexp.MustCompile(`(?m)^\s*` + regexp.QuoteMeta(m[1]) + `="\$bin/([^"]+)"`).FindStringSubmatch(script)
		if assign == nil {
			t.Fatalf("%s: builds $%s, which is not assigned \"$bin/NAME\"", postgresScriptPath, m[1])
		}
		out = append(out, scriptBuild{
			variable: m[1],
			name:     versionSuffix.ReplaceAllString(normalizeShell(assign[1]), ""),
			module:   normalizeShell(m[2]),
		})
	}
	if len(out) == 0 {
		t.Fatalf("%s: no `build \"$var\" \"module@version\"` line", postgresScriptPath)
	}
	return out
}

// (a) The image is built at versions.env's versions, with the script's
// go install lines and schema, and holds each binary under the script's name.
func TestTemporalImageBuildsLikeTheScript(t *testing.T) {
	vers := temporalVersions(t)
	img := loadTemporalImage(t)

	for k, v := range vers {
		got, ok := img.args[k]
		switch {
		case !ok:
			t.Errorf("%s: no ARG %s (versions.env sets it to %s)", temporalDockerfilePath, k, v)
		case got != v:
			t.Errorf("%s: ARG %s=%s, versions.env says %s", temporalDockerfilePath, k, got, v)
		}
	}
	for k := range img.args {
		if _, ok := vers[k]; !ok && strings.HasSuffix(k, "_VERSION") {
			t.Errorf("%s: ARG %s is not in versions.env", temporalDockerfilePath, k)
		}
	}

	script := readText(t, postgresScriptPath)
	builds := scriptBuilds(t, script)
	var scriptMods []string
	for _, b := range builds {
		scriptMods = append(scriptMods, b.module)
	}
	sort.Strings(scriptMods)
	dockerMods := goInstalls(img.buildRun)
	if !slices.Equal(dockerMods, scriptMods) {
		t.Errorf("%s installs %v, %s builds %v: want the same modules at the same versions", temporalDockerfilePath, dockerMods, postgresScriptPath, scriptMods)
	}

	ds := modDownloadRE.FindStringSubmatch(img.buildRun)
	ss := modDownloadRE.FindStringSubmatch(normalizeShell(script))
	switch {
	case ss == nil:
		t.Errorf("%s: no `go mod download -json MODULE@VERSION` for the schema", postgresScriptPath)
	case ds == nil:
		t.Errorf("%s: no `go mod download -json %s` for the schema", temporalDockerfilePath, ss[1])
	case ds[1] != ss[1]:
		t.Errorf("%s takes the schema of %s, %s of %s", temporalDockerfilePath, ds[1], postgresScriptPath, ss[1])
	}
	if !strings.Contains(img.buildRun, "/schema") {
		t.Errorf("%s does not take the module's schema directory", temporalDockerfilePath)
	}

	for _, b := range builds {
		base := path.Base(strings.SplitN(b.module, "@", 2)[0])
		if got, want := img.builtPath(base), "/usr/local/bin/"+b.name; got != want {
			t.Errorf("%s: the binary of %s is at %q in the image, want %s (the script's name, on PATH)", temporalDockerfilePath, b.module, got, want)
		}
	}

	build := img.stages[0].from
	m := regexp.MustCompile(`^(?:docker\.io/(?:library/)?)?golang:(\d+\.\d+)`).FindStringSubmatch(build)
	if m == nil {
		t.Errorf("%s: build stage FROM %s, want golang:<go.mod's major.minor>", temporalDockerfilePath, build)
	} else if want := goDirective(t); m[1] != want {
		t.Errorf("%s builds with Go %s, go.mod says %s", temporalDockerfilePath, m[1], want)
	}
	if err := checkPinned(img.runtime.from); err != nil {
		t.Errorf("%s: runtime image %s: %v", temporalDockerfilePath, img.runtime.from, err)
	}
	if !strings.Contains(strings.Join(img.runtime.ins, "\n"), "ca-certificates") {
		t.Errorf("%s: the runtime stage does not install ca-certificates", temporalDockerfilePath)
	}
}

// buildOf returns a service's build context and dockerfile ("" if unset).
func buildOf(t *testing.T, name string, s service) (context, dockerfile string) {
	t.Helper()
	switch b := s.Build.(type) {
	case string:
		return b, ""
	case map[string]any:
		context, _ = b["context"].(string)
		dockerfile, _ = b["dockerfile"].(string)
		if args, ok := b["args"]; ok {
			t.Errorf("service %s: build args %v: the versions are the Dockerfile's defaults (versions.env)", name, args)
		}
		return context, dockerfile
	default:
		t.Fatalf("service %s: build is %T (%v)", name, s.Build, s.Build)
		return "", ""
	}
}

// The three Temporal services build one image, named for its versions (an
// image of that name is reused without rebuilding: a new version needs a
// new name).
func TestComposeTemporalServicesShareTheImage(t *testing.T) {
	c := loadCompose(t)
	vers := temporalVersions(t)
	wantTag := vers["TEMPORAL_SERVER_VERSION"] + "-cli" + vers["TEMPORAL_CLI_VERSION"]
	images := map[string]bool{}
	for _, name := range temporalServices {
		s := c.service(t, name)
		context, dockerfile := buildOf(t, name, s)
		if filepath.Clean(context) != "." {
			t.Errorf("service %s: build context %q, want \".\" (the Dockerfile copies deploy/temporal's files)", name, context)
		}
		if path.Clean(dockerfile) != temporalDockerfile {
			t.Errorf("service %s: dockerfile %q, want %s", name, dockerfile, temporalDockerfile)
		}
		if s.Image == "" {
			t.Errorf("service %s: no image name: each service would build its own copy", name)
			continue
		}
		images[s.Image] = true
		if tag := s.Image[strings.LastIndex(s.Image, ":")+1:]; tag != wantTag {
			t.Errorf("service %s: image %s, want the tag %s (versions.env)", name, s.Image, wantTag)
		}
	}
	if len(images) > 1 {
		t.Errorf("services %v name different images %v: want one, built once", temporalServices, images)
	}
}

// shellInputs returns the upper-case variables a shell script reads and does
// not assign itself, and whether each is required (${VAR:?…}).
func shellInputs(script string) map[string]bool {
	assigned := map[string]bool{}
	for _, m := range regexp.MustCompile(`(?m)(?:^|\s)(?:export\s+)?([A-Z_][A-Z0-9_]*)=`).FindAllStringSubmatch(script, -1) {
		assigned[m[1]] = true
	}
	out := map[string]bool{}
	for _, m := range regexp.MustCompile(`\$\{?([A-Z_][A-Z0-9_]*)(:?\?)?`).FindAllStringSubmatch(script, -1) {
		if !assigned[m[1]] {
			out[m[1]] = out[m[1]] || m[2] != ""
		}
	}
	return out
}

// templateInputs returns the variables the server's config template reads
// and the default of each ("" and false when it has none).
type templateInput struct {
	def        string
	hasDefault bool
}

func templateInputs(t *testing.T, configFile string) map[string]templateInput {
	t.Helper()
	text := readText(t, configFile)
	if !strings.HasPrefix(text, "# enable-template") {
		t.Errorf("%s does not start with `# enable-template`: the server would not render it", configFile)
	}
	out := map[string]templateInput{}
	for _, m := range regexp.MustCompile(`env\s+"([A-Z_][A-Z0-9_]*)"(\s*\|\s*default\s+"([^"]*)")?`).FindAllStringSubmatch(text, -1) {
		out[m[1]] = templateInput{def: m[3], hasDefault: m[2] != ""}
	}
	if len(out) == 0 {
		t.Fatalf("%s reads no environment variable", configFile)
	}
	return out
}

// checkScriptEnv checks that a service gives a script of deploy/temporal
// every variable it requires and none it does not read.
func checkScriptEnv(t *testing.T, svc string, env map[string]envEntry, script string, inputs map[string]bool) {
	t.Helper()
	for k, required := range inputs {
		if _, ok := env[k]; required && !ok {
			t.Errorf("service %s: %s requires %s, which is not set", svc, script, k)
		}
	}
	for k := range env {
		if _, ok := inputs[k]; !ok {
			t.Errorf("service %s: sets %s, which %s does not read (typo?)", svc, k, script)
		}
	}
}

// serverInvocation is a temporal-server command line: its flags and command.
type serverInvocation struct {
	flags   map[string]string
	command string
}

var serverBoolFlags = map[string]bool{"--allow-no-auth": true}

// parseServerInvocation reads the arguments after exe in text (normalized).
func parseServerInvocation(text, exe string) (serverInvocation, bool) {
	text = strings.ReplaceAll(normalizeShell(text), "\\\n", " ")
	for _, line := range strings.Split(text, "\n") {
		f := strings.Fields(line)
		i := slices.Index(f, exe)
		if i < 0 || !runsWord(f[:i]) {
			continue
		}
		inv := serverInvocation{flags: map[string]string{}}
		for j := i + 1; j < len(f); j++ {
			a := f[j]
			if strings.ContainsAny(a, "<>&|;") {
				break
			}
			if !strings.HasPrefix(a, "-") {
				inv.command = a
				break
			}
			if k, v, ok := strings.Cut(a, "="); ok {
				inv.flags[k] = v
			} else if serverBoolFlags[a] || j+1 == len(f) {
				inv.flags[a] = "true"
			} else {
				inv.flags[a] = f[j+1]
				j++
			}
		}
		return inv, true
	}
	return serverInvocation{}, false
}

// runsWord reports whether the words before a command word make a line that
// runs it: only assignments and setsid, exec, nohup or env.
func runsWord(before []string) bool {
	for _, w := range before {
		if !slices.Contains([]string{"setsid", "exec", "nohup", "env"}, w) &&
			!regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*=`).MatchString(w) {
			return false
		}
	}
	return true
}

// frontendPort is the server's gRPC port in the stack: the template's
// default unless the service sets it.
func frontendPort(t *testing.T, env map[string]envEntry, tmpl map[string]templateInput) string {
	t.Helper()
	if e, ok := env["TEMPORAL_FRONTEND_PORT"]; ok {
		return resolve(e, "")
	}
	return tmpl["TEMPORAL_FRONTEND_PORT"].def
}

// (b) compose runs the script's steps with the image's copies of the same
// files: setup-schema.sh, the server with the same flags, config and dynamic
// config, register.sh; on the same database as the postgresql service.
func TestComposeTemporalRunsTheScriptSteps(t *testing.T) {
	c := loadCompose(t)
	img := loadTemporalImage(t)
	script := readText(t, postgresScriptPath)
	nscript := normalizeShell(script)
	builds := scriptBuilds(t, script)

	if m := scriptDeployRE.FindStringSubmatch(script); m == nil || path.Clean(m[1]) != temporalDeploy {
		t.Fatalf("%s: want deploy=\"$here/%s\"", postgresScriptPath, temporalDeploy)
	}
	command := func(s service) string {
		return commandText(s.Entrypoint) + "\n" + commandText(s.Command)
	}
	runsFile := func(svc string, s service, src string) {
		t.Helper()
		dest := img.contextPath(src)
		if dest == "" {
			t.Errorf("%s does not COPY %s into the image", temporalDockerfilePath, src)
			return
		}
		if !slices.Contains(strings.Fields(normalizeShell(command(s))), dest) {
			t.Errorf("service %s: command %q does not run %s (the image's %s)", svc, command(s), dest, src)
		}
	}

	pg := environment(t, svcPostgres, c.service(t, svcPostgres))
	pgUser, pgPassword := pg["POSTGRES_USER"], pg["POSTGRES_PASSWORD"]
	pgPass, _ := parseSubst(pgPassword.raw)
	checkDB := func(svc string, env map[string]envEntry) {
		t.Helper()
		if h := resolve(env["TEMPORAL_DB_HOST"], ""); h != svcPostgres {
			t.Errorf("service %s: TEMPORAL_DB_HOST %q, want %s", svc, h, svcPostgres)
		}
		if p := resolve(env["TEMPORAL_DB_PORT"], ""); p != "5432" {
			t.Errorf("service %s: TEMPORAL_DB_PORT %q, want 5432 (PostgreSQL's)", svc, p)
		}
		if u := env["TEMPORAL_DB_USER"]; u != pgUser {
			t.Errorf("service %s: TEMPORAL_DB_USER %q, want %s's POSTGRES_USER %q", svc, u.raw, svcPostgres, pgUser.raw)
		}
		pw, _ := parseSubst(env["TEMPORAL_DB_PASSWORD"].raw)
		if !fromUserVar(env["TEMPORAL_DB_PASSWORD"]) || pw.name != pgPass.name {
			t.Errorf("service %s: TEMPORAL_DB_PASSWORD %q, want the variable of %s's POSTGRES_PASSWORD (%q)", svc, env["TEMPORAL_DB_PASSWORD"].raw, svcPostgres, pgPassword.raw)
		}
	}

	// temporal-schema: setup-schema.sh with the image's SQL tool and schema.
	schema := c.service(t, svcSchema)
	schemaEnv := environment(t, svcSchema, schema)
	runsFile(svcSchema, schema, temporalDeploy+"/setup-schema.sh")
	checkScriptEnv(t, svcSchema, schemaEnv, "setup-schema.sh", shellInputs(readText(t, setupSchemaPath)))
	checkDB(svcSchema, schemaEnv)
	invoke := regexp.MustCompile(`(?m)^\s*[^#\s].*setup-schema\.sh.*$`).FindString(nscript)
	toolVar := regexp.MustCompile(`\bSQL_TOOL=\$(\w+)`).FindStringSubmatch(invoke)
	if toolVar == nil {
		t.Errorf("%s: runs setup-schema.sh without SQL_TOOL=\"$var\"", postgresScriptPath)
	} else {
		for _, b := range builds {
			if b.variable == toolVar[1] {
				if got, want := resolve(schemaEnv["SQL_TOOL"], ""), img.builtPath(path.Base(strings.SplitN(b.module, "@", 2)[0])); got == "" || got != want {
					t.Errorf("service %s: SQL_TOOL %q, want %q (the image's %s, the script's)", svcSchema, got, want, b.module)
				}
			}
		}
	}
	if got, want := resolve(schemaEnv["SCHEMA_DIR"], ""), img.builtPath("schema"); got == "" || got != want {
		t.Errorf("service %s: SCHEMA_DIR %q, want %q (where the image holds the module's schema)", svcSchema, got, want)
	}

	// temporal: the server, with the script's flags.
	server := c.service(t, svcTemporal)
	serverEnv := environment(t, svcTemporal, server)
	var serverName string
	for _, b := range builds {
		if strings.HasPrefix(b.module, "go.temporal.io/server/cmd/server@") {
			serverName = b.name
		}
	}
	want, ok := parseServerInvocation(script, "$"+firstVar(builds, "go.temporal.io/server/cmd/server@"))
	if !ok {
		t.Fatalf("%s: does not start the server binary", postgresScriptPath)
	}
	got, ok := parseServerInvocation(command(server), serverName)
	if !ok {
		t.Fatalf("service %s: command %q does not run %s", svcTemporal, command(server), serverName)
	}
	if want.command != "start" {
		t.Errorf("%s: runs the server's %q, want start", postgresScriptPath, want.command)
	}
	if got.command != want.command {
		t.Errorf("service %s: runs the server's %q, the script %q", svcTemporal, got.command, want.command)
	}
	for _, flag := range []string{"--config", "--env", "--allow-no-auth"} {
		if got.flags[flag] != want.flags[flag] {
			t.Errorf("service %s: server %s %q, the script's %q", svcTemporal, flag, got.flags[flag], want.flags[flag])
		}
	}
	if want.flags["--root"] != "$deploy" {
		t.Errorf("%s: server --root %q, want $deploy (%s)", postgresScriptPath, want.flags["--root"], temporalDeploy)
	}
	cfgDir, env := want.flags["--config"], want.flags["--env"]
	configFile := filepath.Join(temporalDir, filepath.FromSlash(cfgDir), env+".yaml")
	if _, err := os.Stat(configFile); err != nil {
		t.Fatalf("the server's --config %s --env %s: %v", cfgDir, env, err)
	}
	if dest := img.contextPath(path.Join(temporalDeploy, cfgDir)); dest == "" || path.Join(got.flags["--root"], got.flags["--config"]) != dest {
		t.Errorf("service %s: server --root %q --config %q, but the image holds %s/%s at %q", svcTemporal, got.flags["--root"], got.flags["--config"], temporalDeploy, cfgDir, dest)
	}

	tmpl := templateInputs(t, configFile)
	for k := range serverEnv {
		if _, ok := tmpl[k]; !ok {
			t.Errorf("service %s: sets %s, which %s does not read (typo?)", svcTemporal, k, configFile)
		}
	}
	for k, in := range tmpl {
		if _, ok := serverEnv[k]; !ok && !in.hasDefault {
			t.Errorf("service %s: %s has no default in %s and is not set", svcTemporal, k, configFile)
		}
	}
	checkDB(svcTemporal, serverEnv)
	if ip := resolve(serverEnv["TEMPORAL_BIND_IP"], ""); ip != "0.0.0.0" {
		t.Errorf("service %s: TEMPORAL_BIND_IP %q, want 0.0.0.0 (reached from other containers)", svcTemporal, ip)
	}
	if _, ok := serverEnv["TEMPORAL_BROADCAST_ADDRESS"]; ok {
		t.Errorf("service %s: TEMPORAL_BROADCAST_ADDRESS is fixed; want the container's address (hostname -i) set in the command", svcTemporal)
	} else if !regexp.MustCompile(`(?m)\bexport\s+TEMPORAL_BROADCAST_ADDRESS=\S*\$`).MatchString(command(server)) {
		t.Errorf("service %s: the command does not export TEMPORAL_BROADCAST_ADDRESS from the container's address", svcTemporal)
	}
	if _, ok := tmpl["TEMPORAL_BROADCAST_ADDRESS"]; !ok {
		t.Errorf("%s does not read TEMPORAL_BROADCAST_ADDRESS", configFile)
	}
	if got, want := resolve(serverEnv["TEMPORAL_DYNAMIC_CONFIG"], ""), img.contextPath(temporalDeploy+"/dynamicconfig.yaml"); got == "" || got != want {
		t.Errorf("service %s: TEMPORAL_DYNAMIC_CONFIG %q, want %q (the image's %s/dynamicconfig.yaml)", svcTemporal, got, want, temporalDeploy)
	}
	if !strings.Contains(nscript, "TEMPORAL_DYNAMIC_CONFIG=$deploy/dynamicconfig.yaml") {
		t.Errorf("%s does not set TEMPORAL_DYNAMIC_CONFIG=\"$deploy/dynamicconfig.yaml\"", postgresScriptPath)
	}
	for _, k := range []string{"TEMPORAL_DB_HOST", "TEMPORAL_DB_PORT", "TEMPORAL_DB_USER", "TEMPORAL_DB_PASSWORD"} {
		if schemaEnv[k] != serverEnv[k] {
			t.Errorf("%s: %s %q in %s, %q in %s: want the same database", composePath, k, schemaEnv[k].raw, svcSchema, serverEnv[k].raw, svcTemporal)
		}
	}
	// Every TEMPORAL_* the script exports is read by one of deploy/temporal's files.
	register := readText(t, registerPath)
	readers := shellInputs(readText(t, setupSchemaPath) + "\n" + register)
	for _, m := range regexp.MustCompile(`(?m)^\s*export\s+(.*)$`).FindAllStringSubmatch(script, -1) {
		for _, a := range strings.Fields(m[1]) {
			k, _, _ := strings.Cut(a, "=")
			_, inTemplate := tmpl[k]
			_, inScripts := readers[k]
			if strings.HasPrefix(k, "TEMPORAL_") && !inTemplate && !inScripts {
				t.Errorf("%s exports %s, which neither %s nor the scripts read (typo?)", postgresScriptPath, k, configFile)
			}
		}
	}

	port := frontendPort(t, serverEnv, tmpl)
	if !slices.Contains(publishedPorts(t, svcTemporal, server), "127.0.0.1:"+port+":"+port) {
		t.Errorf("service %s: does not publish the frontend port %s on 127.0.0.1:%s", svcTemporal, port, port)
	}
	address := svcTemporal + ":" + port
	if hc := commandText(server.Healthcheck["test"]); !strings.Contains(hc, "temporal operator cluster health") {
		t.Errorf("service %s: healthcheck %q, want `temporal operator cluster health`", svcTemporal, hc)
	}
	for _, name := range []string{svcUI, svcWorker} {
		if a := resolve(environment(t, name, c.service(t, name))["TEMPORAL_ADDRESS"], ""); a != address {
			t.Errorf("service %s: TEMPORAL_ADDRESS %q, want %s", name, a, address)
		}
	}

	// temporal-register: register.sh on the worker's namespace.
	reg := c.service(t, svcRegister)
	regEnv := environment(t, svcRegister, reg)
	runsFile(svcRegister, reg, temporalDeploy+"/register.sh")
	checkScriptEnv(t, svcRegister, regEnv, "register.sh", shellInputs(register))
	if a := resolve(regEnv["TEMPORAL_ADDRESS"], ""); a != address {
		t.Errorf("service %s: TEMPORAL_ADDRESS %q, want %s", svcRegister, a, address)
	}
	workerNS := resolve(environment(t, svcWorker, c.service(t, svcWorker))["TEMPORAL_NAMESPACE"], "")
	if ns := resolve(regEnv["NAMESPACE"], ""); ns != workerNS {
		t.Errorf("service %s: NAMESPACE %q, the worker uses %q", svcRegister, ns, workerNS)
	}
}

func firstVar(builds []scriptBuild, modulePrefix string) string {
	for _, b := range builds {
		if strings.HasPrefix(b.module, modulePrefix) {
			return b.variable
		}
	}
	return ""
}

// publishedPorts returns a service's ports in the short syntax
// [HOST_IP:]HOST:CONTAINER; the long syntax is written in the same form.
func publishedPorts(t *testing.T, name string, s service) []string {
	t.Helper()
	var out []string
	for _, p := range s.Ports {
		switch x := p.(type) {
		case string:
			out = append(out, x)
		case map[string]any:
			hostIP := fmt.Sprint(x["host_ip"])
			if x["host_ip"] == nil {
				hostIP = ""
			}
			out = append(out, fmt.Sprintf("%s:%v:%v", hostIP, x["published"], x["target"]))
		default:
			out = append(out, fmt.Sprint(x)) // a bare number: every address
		}
	}
	return out
}

func TestPublishedPortsOnLoopbackOnly(t *testing.T) {
	for name, s := range loadCompose(t).Services {
		for _, p := range publishedPorts(t, name, s) {
			if !strings.HasPrefix(p, "127.0.0.1:") {
				t.Errorf("service %s: port %q is published on every address; want 127.0.0.1:HOST:CONTAINER", name, p)
			}
		}
	}
}

// Compose interpolates $VAR in commands itself; shell variables must be
// written $$VAR.
func TestCommandsEscapeShellVariables(t *testing.T) {
	for name, s := range loadCompose(t).Services {
		text := commandText(s.Entrypoint) + "\n" + commandText(s.Command) + "\n" + commandText(s.Healthcheck["test"])
		if rest := strings.ReplaceAll(text, "$$", ""); strings.Contains(rest, "$") {
			t.Errorf("service %s: a command has a single $ that compose would interpolate; write $$ for the shell", name)
		}
	}
}

var registerCreateRE = regexp.MustCompile(`(?m)^\s*create\s+(\S+)\s+(\S+)\s*$`)

// (c) register.sh registers exactly api.SearchAttributeTypes, each through
// `temporal operator search-attribute create` on its namespace.
func TestRegisterScriptSearchAttributes(t *testing.T) {
	script := readText(t, registerPath)
	calls := parseCreates(script)
	if len(calls) != 1 || calls[0].namespace != "$ns" ||
		!slices.Equal(calls[0].names, []string{"$1"}) || !slices.Equal(calls[0].types, []string{"$2"}) {
		t.Errorf("%s: want one `search-attribute create --namespace \"$ns\" --name \"$1\" --type \"$2\"` in create(), got %+v", registerPath, calls)
	}
	if !regexp.MustCompile(`(?m)^ns="\$\{NAMESPACE:-default\}"`).MatchString(script) {
		t.Errorf("%s: want ns=\"${NAMESPACE:-default}\"", registerPath)
	}
	registered := map[string]string{}
	for _, m := range registerCreateRE.FindAllStringSubmatch(script, -1) {
		if prev, dup := registered[m[1]]; dup {
			t.Errorf("%s: %s created twice (%s, %s)", registerPath, m[1], prev, m[2])
		}
		registered[m[1]] = m[2]
	}
	want := api.SearchAttributeTypes()
	if len(registered) == 0 {
		t.Fatalf("%s: no `create Name Type` line", registerPath)
	}
	for name, typ := range want {
		got, ok := registered[name]
		switch {
		case !ok:
			t.Errorf("%s: search attribute %s (%s) is not registered", registerPath, name, typ)
		case got != typ:
			t.Errorf("%s: search attribute %s registered as %s, want %s", registerPath, name, got, typ)
		}
	}
	for name, typ := range registered {
		if _, ok := want[name]; !ok {
			t.Errorf("%s: registers %s (%s), which api.SearchAttributeTypes does not have", registerPath, name, typ)
		}
	}
}

// serverBinary returns the server the script built for versions.env's
// version, or skips: test.sh starts the script (which builds it) before go test.
func serverBinary(t *testing.T) string {
	t.Helper()
	vers := temporalVersions(t)
	var name string
	for _, b := range scriptBuilds(t, readText(t, postgresScriptPath)) {
		if strings.HasPrefix(b.module, "go.temporal.io/server/cmd/server@") {
			name = b.name + "-" + vers["TEMPORAL_SERVER_VERSION"]
		}
	}
	if name == "" {
		t.Fatalf("%s does not build the server", postgresScriptPath)
	}
	dir, err := gotool.BinDir()
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, name)
	if _, err := os.Stat(bin); err != nil {
		t.Skipf("%s is not built: test.sh builds it (scripts/temporal-postgres.sh up, before go test); run that to check the server's files", bin)
	}
	return bin
}

// serverEnviron is the environment without TEMPORAL_* (the caller's must not
// leak into the rendering), plus extra.
func serverEnviron(extra map[string]string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "TEMPORAL_") {
			env = append(env, kv)
		}
	}
	for k, v := range extra {
		env = append(env, k+"="+v)
	}
	return env
}

// (d) The dynamic config has only keys the server knows, with valid values.
func TestDynamicConfigValid(t *testing.T) {
	bin := serverBinary(t)
	abs, err := filepath.Abs(dynamicConfigPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "validate-dynamic-config", abs)
	cmd.Env = serverEnviron(nil)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s validate-dynamic-config: %v\n%s", bin, err, out)
	}
	if !strings.Contains(string(out), abs) {
		t.Fatalf("validate-dynamic-config did not read %s:\n%s", abs, out)
	}
	// It exits 0 on unknown keys, bad values and even a file it cannot parse.
	for _, line := range strings.Split(string(out), "\n") {
		if l := strings.TrimSpace(line); strings.HasPrefix(l, "warning:") || strings.HasPrefix(l, "error:") {
			t.Errorf("%s: %s", dynamicConfigPath, l)
		}
	}
}

// renderConfig renders the server's configuration as the server would load
// it with flags (render-config reads --config from the working directory,
// not from --root: it runs in the directory --root names).
func renderConfig(t *testing.T, bin, root string, inv serverInvocation, env map[string]string) map[string]any {
	t.Helper()
	cmd := exec.Command(bin, "--root", ".", "--config", inv.flags["--config"], "--env", inv.flags["--env"], "render-config")
	cmd.Dir = root
	cmd.Env = serverEnviron(env)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s render-config: %v\n%s", bin, err, stderr.String())
	}
	var cfg map[string]any
	if err := yaml.Unmarshal(out, &cfg); err != nil {
		t.Fatalf("render-config printed no YAML: %v\n%s", err, out)
	}
	return cfg
}

func dig(v any, keys ...string) any {
	for _, k := range keys {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[k]
	}
	return v
}

// (e) The config template renders, with the script's flags, to PostgreSQL
// stores on the databases setup-schema.sh creates; with compose's
// environment, to the stack's database, addresses and dynamic config.
func TestServerConfigRenders(t *testing.T) {
	bin := serverBinary(t)
	inv, ok := parseServerInvocation(readText(t, postgresScriptPath), "$"+firstVar(scriptBuilds(t, readText(t, postgresScriptPath)), "go.temporal.io/server/cmd/server@"))
	if !ok {
		t.Fatalf("%s does not start the server", postgresScriptPath)
	}

	setup := readText(t, setupSchemaPath)
	plugin := regexp.MustCompile(`(?m)^export SQL_PLUGIN=(\S+)`).FindStringSubmatch(setup)
	dbs := regexp.MustCompile(`(?m)^for db in ([^;]+);`).FindStringSubmatch(setup)
	if plugin == nil || dbs == nil {
		t.Fatalf("%s: want `export SQL_PLUGIN=…` and `for db in …; do`", setupSchemaPath)
	}
	wantDBs := strings.Fields(dbs[1])
	sort.Strings(wantDBs)
	checkStores := func(cfg map[string]any, what string) {
		t.Helper()
		var gotDBs []string
		for _, store := range []string{"defaultStore", "visibilityStore"} {
			name, _ := dig(cfg, "persistence", store).(string)
			sql := dig(cfg, "persistence", "datastores", name, "sql")
			if sql == nil {
				t.Errorf("%s: persistence.%s %q is not an SQL datastore", what, store, name)
				continue
			}
			if p := dig(sql, "pluginName"); p != "postgres12" || p != plugin[1] {
				t.Errorf("%s: persistence.%s uses plugin %v, want postgres12 (setup-schema.sh: %s)", what, store, p, plugin[1])
			}
			gotDBs = append(gotDBs, fmt.Sprint(dig(sql, "databaseName")))
		}
		sort.Strings(gotDBs)
		if !slices.Equal(gotDBs, wantDBs) {
			t.Errorf("%s: the stores use databases %v, setup-schema.sh creates %v", what, gotDBs, wantDBs)
		}
	}

	// As the script runs it: the template's defaults and a password.
	checkStores(renderConfig(t, bin, temporalDir, inv, map[string]string{"TEMPORAL_DB_PASSWORD": "x"}), "rendered with the script's flags")

	// As compose runs it, with an address for the container's.
	c := loadCompose(t)
	server := c.service(t, svcTemporal)
	env := map[string]string{"TEMPORAL_BROADCAST_ADDRESS": "172.18.0.3"}
	for k, e := range environment(t, svcTemporal, server) {
		env[k] = resolve(e, "from-user")
	}
	cfg := renderConfig(t, bin, temporalDir, inv, env)
	what := "rendered with " + svcTemporal + "'s environment"
	checkStores(cfg, what)
	for _, store := range []string{"postgres-default", "postgres-visibility"} {
		if a := dig(cfg, "persistence", "datastores", store, "sql", "connectAddr"); a != svcPostgres+":5432" {
			t.Errorf("%s: %s connects to %v, want %s:5432", what, store, a, svcPostgres)
		}
	}
	for _, s := range []string{"frontend", "history", "matching", "worker"} {
		if ip := dig(cfg, "services", s, "rpc", "bindOnIP"); ip != "0.0.0.0" {
			t.Errorf("%s: %s binds %v, want 0.0.0.0", what, s, ip)
		}
	}
	if b := dig(cfg, "global", "membership", "broadcastAddress"); b != "172.18.0.3" {
		t.Errorf("%s: broadcastAddress %v, want TEMPORAL_BROADCAST_ADDRESS", what, b)
	}
	if f := dig(cfg, "dynamicConfigClient", "filepath"); f != env["TEMPORAL_DYNAMIC_CONFIG"] {
		t.Errorf("%s: dynamic config %v, want %s", what, f, env["TEMPORAL_DYNAMIC_CONFIG"])
	}
	port := fmt.Sprint(dig(cfg, "services", "frontend", "rpc", "grpcPort"))
	if !slices.Contains(publishedPorts(t, svcTemporal, server), "127.0.0.1:"+port+":"+port) {
		t.Errorf("%s: the frontend listens on %s, which %s does not publish", what, port, svcTemporal)
	}
}

// .dockerignore keeps every file the Temporal image copies from the context.
func TestDockerignoreKeepsTemporalFiles(t *testing.T) {
	var patterns []string
	for _, l := range strings.Split(readText(t, dockerignorePath), "\n") {
		l = strings.TrimSpace(l)
		if l == "" || strings.HasPrefix(l, "#") || strings.HasPrefix(l, "!") {
			continue
		}
		patterns = append(patterns, strings.Trim(l, "/"))
	}
	img := loadTemporalImage(t)
	var n int
	for _, c := range img.copies {
		if c.from != "" {
			continue
		}
		for _, src := range c.srcs {
			n++
			if _, err := os.Stat(filepath.Join(repoRoot, filepath.FromSlash(src))); err != nil {
				t.Errorf("%s copies %s: %v", temporalDockerfilePath, src, err)
			}
			// A pattern excludes a path or any directory above it.
			for p := path.Clean(src); p != "." && p != "/"; p = path.Dir(p) {
				for _, pat := range patterns {
					if ok, _ := path.Match(pat, p); ok {
						t.Errorf(".dockerignore pattern %q excludes %s, which %s copies", pat, src, temporalDockerfilePath)
					}
				}
			}
		}
	}
	if n == 0 {
		t.Errorf("%s copies nothing from the build context", temporalDockerfilePath)
	}
}

func TestTemporalParsers(t *testing.T) {
	if got := normalizeShell(`go install "x@v${A}" 'y'`); got != "go install x@v$A y" {
		t.Errorf("normalizeShell = %q", got)
	}
	if got := goInstalls("RUN --mount=x \\\n go install -v a/b@v$V && go install c@v${W};"); !slices.Equal(got, []string{"a/b@v$V", "c@v$W"}) {
		t.Errorf("goInstalls = %v", got)
	}
	inv, ok := parseServerInvocation("build \"$server\" x@v1\nsetsid \"$server\" --root \"$deploy\" --config config --env=e --allow-no-auth start \\\n  >log 2>&1 &", "$server")
	if !ok || inv.command != "start" || inv.flags["--root"] != "$deploy" || inv.flags["--config"] != "config" || inv.flags["--env"] != "e" || inv.flags["--allow-no-auth"] != "true" {
		t.Errorf("parseServerInvocation = %+v, %v", inv, ok)
	}
	in := shellInputs(`: "${A:?x}"` + "\nexport B=1\necho \"$B\" \"${C:-d}\" $D ${A}\n")
	if len(in) != 3 || !in["A"] || in["C"] || in["D"] {
		t.Errorf("shellInputs = %v", in)
	}
	st := dockerStage{ins: []string{`COPY --from=build --chmod=0755 /a /b /dst/`, `COPY ["x y", "/z"]`}}
	cs := stageCopies(t, st)
	if len(cs) != 2 || cs[0].from != "build" || !slices.Equal(cs[0].srcs, []string{"/a", "/b"}) || cs[0].dest != "/dst/" || cs[1].srcs[0] != "x y" {
		t.Errorf("stageCopies = %+v", cs)
	}
	if a := dockerArgDefaults([]string{"ARG A=1 B", "ARG C=\"2\""}); a["A"] != "1" || a["B"] != "" || a["C"] != "2" {
		t.Errorf("dockerArgDefaults = %v", a)
	}
	for _, ports := range [][]any{{"7233:7233"}, {7233}, {map[string]any{"published": 7233, "target": 7233}}} {
		if p := publishedPorts(t, "x", service{Ports: ports}); strings.HasPrefix(p[0], "127.0.0.1:") {
			t.Errorf("publishedPorts(%v) = %v: taken as loopback", ports, p)
		}
	}
	if p := publishedPorts(t, "x", service{Ports: []any{map[string]any{"host_ip": "127.0.0.1", "published": "1", "target": 2}}}); p[0] != "127.0.0.1:1:2" {
		t.Errorf("publishedPorts(long) = %v", p)
	}
}
