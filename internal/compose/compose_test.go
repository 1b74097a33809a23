package compose

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/withings-plus/subscriptions/config"
)

// Paths relative to this package's directory, where `go test` runs.
var (
	repoRoot         = filepath.Join("..", "..")
	composePath      = filepath.Join(repoRoot, "docker-compose.yml")
	dockerfilePath   = filepath.Join(repoRoot, "Dockerfile")
	dockerignorePath = filepath.Join(repoRoot, ".dockerignore")
	goModPath        = filepath.Join(repoRoot, "go.mod")
)

// The stack's services, by the names the README and users' scripts use.
const (
	svcPostgres = "postgresql"
	svcSchema   = "temporal-schema"
	svcTemporal = "temporal"
	svcRegister = "temporal-register"
	svcUI       = "temporal-ui"
	svcWorker   = "worker"
)

// composeFile is the part of the compose format these tests read. Fields that
// take several shapes in the compose spec are decoded as any and normalised.
type composeFile struct {
	Services map[string]service `yaml:"services"`
	Volumes  map[string]any     `yaml:"volumes"`
}

type service struct {
	Image       string         `yaml:"image"`
	Build       any            `yaml:"build"`       // "path" or {context, dockerfile}
	Environment any            `yaml:"environment"` // map or list of KEY[=VALUE]
	DependsOn   any            `yaml:"depends_on"`  // list of names or map name → {condition}
	Healthcheck map[string]any `yaml:"healthcheck"`
	Entrypoint  any            `yaml:"entrypoint"` // string or list
	Command     any            `yaml:"command"`    // string or list
	Restart     any            `yaml:"restart"`
	Ports       []any          `yaml:"ports"`
	Volumes     []any          `yaml:"volumes"`
}

func loadCompose(t *testing.T) composeFile {
	t.Helper()
	b, err := os.ReadFile(composePath)
	if err != nil {
		t.Fatalf("read %s: %v", composePath, err)
	}
	var c composeFile
	if err := yaml.Unmarshal(b, &c); err != nil {
		t.Fatalf("parse %s: %v", composePath, err)
	}
	if len(c.Services) == 0 {
		t.Fatalf("%s: no services", composePath)
	}
	return c
}

func (c composeFile) service(t *testing.T, name string) service {
	t.Helper()
	s, ok := c.Services[name]
	if !ok {
		t.Fatalf("%s: no service %q", composePath, name)
	}
	return s
}

// envEntry is one environment variable of a service: its raw value as
// written in the file, or passThrough for a bare KEY, which compose takes
// from the user's environment.
type envEntry struct {
	raw         string
	passThrough bool
}

func environment(t *testing.T, svcName string, s service) map[string]envEntry {
	t.Helper()
	out := map[string]envEntry{}
	switch env := s.Environment.(type) {
	case nil:
	case map[string]any:
		for k, v := range env {
			if v == nil {
				out[k] = envEntry{passThrough: true}
			} else {
				out[k] = envEntry{raw: fmt.Sprint(v)}
			}
		}
	case []any:
		for _, item := range env {
			s := fmt.Sprint(item)
			if k, v, ok := strings.Cut(s, "="); ok {
				out[k] = envEntry{raw: v}
			} else {
				out[s] = envEntry{passThrough: true}
			}
		}
	default:
		t.Fatalf("service %s: environment has unexpected shape %T", svcName, env)
	}
	return out
}

// subst is a value that is exactly one compose variable substitution:
// ${NAME}, ${NAME:-default}, ${NAME-default}, ${NAME:?message}, ${NAME?message}.
type subst struct {
	name, op, arg string
}

var substRE = regexp.MustCompile(`^\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])(.*))?\}$`)

func parseSubst(raw string) (subst, bool) {
	m := substRE.FindStringSubmatch(raw)
	if m == nil {
		return subst{}, false
	}
	return subst{name: m[1], op: m[2], arg: m[3]}, true
}

// fromUser reports whether the value of key comes only from the user's
// environment variable of the same name: a bare KEY, ${KEY} or
// ${KEY:?message}, with no default.
func fromUser(key string, e envEntry) bool {
	if e.passThrough {
		return true
	}
	s, ok := parseSubst(e.raw)
	return ok && s.name == key && noDefault(s)
}

// fromUserVar is fromUser for a value taken from a variable of any name
// (POSTGRES_PWD: ${POSTGRES_PASSWORD:?…}).
func fromUserVar(e envEntry) bool {
	if e.passThrough {
		return true
	}
	s, ok := parseSubst(e.raw)
	return ok && noDefault(s)
}

func noDefault(s subst) bool { return s.op == "" || s.op == ":?" || s.op == "?" }

// resolve gives the value the container sees when the user set only the
// variables that compose requires: defaults apply, user-provided values are
// replaced by placeholder.
func resolve(e envEntry, placeholder string) string {
	if e.passThrough {
		return placeholder
	}
	s, ok := parseSubst(e.raw)
	if !ok {
		return e.raw
	}
	switch s.op {
	case ":-", "-":
		return s.arg
	default:
		return placeholder
	}
}

// workerReads returns every environment variable the worker reads, derived
// from the code: the keys config.WorkerFromEnv asks for, the template
// variables of every email kind, and the Temporal SDK's connection variables
// the worker's documentation and the contract name.
func workerReads(t *testing.T) map[string]bool {
	t.Helper()
	keys := map[string]bool{}
	record := func(k string) (string, bool) {
		keys[k] = true
		return "", false
	}
	_, _ = config.WorkerFromEnv(record)
	_, _ = config.PayloadFromEnv(record)
	_, _ = config.MetricsFromEnv(record)
	_, _ = config.TuningFromEnv(record)
	if len(keys) == 0 {
		t.Fatal("config.WorkerFromEnv asked for no variable: the recording lookup no longer sees its reads")
	}
	for _, kind := range config.EmailKinds() {
		keys[config.TemplateVar(kind)] = true
	}
	keys["TEMPORAL_ADDRESS"] = true
	keys["TEMPORAL_NAMESPACE"] = true
	return keys
}

// requiredSecrets returns the variables config.WorkerFromEnv cannot do
// without: with nothing set, its error names exactly the missing required
// ones (every optional variable has a valid default). The result is checked
// to be complete: setting just those makes WorkerFromEnv succeed.
func requiredSecrets(t *testing.T, reads map[string]bool) []string {
	t.Helper()
	_, err := config.WorkerFromEnv(func(string) (string, bool) { return "", false })
	if err == nil {
		t.Fatal("config.WorkerFromEnv accepts an empty environment: expected required variables")
	}
	var req []string
	for k := range reads {
		if strings.Contains(err.Error(), k) {
			req = append(req, k)
		}
	}
	sort.Strings(req)
	if len(req) == 0 {
		t.Fatalf("cannot tell the required variables from the error %q", err)
	}
	set := map[string]string{}
	for _, k := range req {
		set[k] = "placeholder"
	}
	if _, err := config.WorkerFromEnv(lookupIn(set)); err != nil {
		t.Fatalf("required variables derived as %v, but setting only those still fails: %v", req, err)
	}
	return req
}

func lookupIn(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

func TestComposeServices(t *testing.T) {
	c := loadCompose(t)
	var got []string
	for name := range c.Services {
		got = append(got, name)
	}
	sort.Strings(got)
	want := []string{svcPostgres, svcSchema, svcTemporal, svcRegister, svcUI, svcWorker}
	sort.Strings(want)
	if !slices.Equal(got, want) {
		t.Errorf("services = %v, want exactly %v", got, want)
	}
}

func TestComposeImagesPinned(t *testing.T) {
	c := loadCompose(t)
	for name, s := range c.Services {
		if s.Image == "" {
			if s.Build == nil {
				t.Errorf("service %s: neither image nor build", name)
			}
			continue
		}
		if err := checkPinned(s.Image); err != nil {
			t.Errorf("service %s: image %q: %v", name, s.Image, err)
		}
	}
}

func checkPinned(image string) error {
	if strings.Contains(image, "$") {
		return fmt.Errorf("uses a variable; write the version in the file")
	}
	if _, digest, ok := strings.Cut(image, "@"); ok {
		if !strings.HasPrefix(digest, "sha256:") {
			return fmt.Errorf("digest %q is not sha256", digest)
		}
		return nil
	}
	last := image[strings.LastIndex(image, "/")+1:] // a registry's :port is before the last slash
	_, tag, ok := strings.Cut(last, ":")
	switch {
	case !ok || tag == "":
		return fmt.Errorf("has no tag")
	case tag == "latest":
		return fmt.Errorf("uses :latest")
	}
	return nil
}

func TestWorkerBuildsFromRepoRoot(t *testing.T) {
	w := loadCompose(t).service(t, svcWorker)
	var context, dockerfile string
	switch b := w.Build.(type) {
	case string:
		context = b
	case map[string]any:
		context, _ = b["context"].(string)
		dockerfile, _ = b["dockerfile"].(string)
	default:
		t.Fatalf("worker: build is %T (%v), want the repository root", w.Build, w.Build)
	}
	if filepath.Clean(context) != "." {
		t.Errorf("worker: build context %q, want \".\"", context)
	}
	if dockerfile != "" && dockerfile != "Dockerfile" {
		t.Errorf("worker: dockerfile %q, want the repository's Dockerfile", dockerfile)
	}
	if w.Image != "" {
		if err := checkPinned(w.Image); err != nil {
			t.Errorf("worker: image %q: %v", w.Image, err)
		}
	}
	if _, err := os.Stat(dockerfilePath); err != nil {
		t.Errorf("worker builds from the repository root, but: %v", err)
	}
}

func TestWorkerEnvironmentCoversConfig(t *testing.T) {
	env := environment(t, svcWorker, loadCompose(t).service(t, svcWorker))
	reads := workerReads(t)

	var missing []string
	for k := range reads {
		if _, ok := env[k]; !ok {
			missing = append(missing, k)
		}
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		t.Errorf("worker environment lacks variables the worker reads: %v", missing)
	}

	templatePrefix := config.TemplateVar("")
	var unknown []string
	for k := range env {
		if reads[k] || strings.HasPrefix(k, templatePrefix) || strings.HasPrefix(k, "TEMPORAL_") {
			continue
		}
		unknown = append(unknown, k)
	}
	sort.Strings(unknown)
	if len(unknown) > 0 {
		t.Errorf("worker environment sets variables the worker never reads (typo?): %v", unknown)
	}
}

// secretName matches variable names that hold credentials, in any service.
var secretName = regexp.MustCompile(`(?i)(SECRET|PASSWORD|PWD|API_KEY|TOKEN|PRIVATE_KEY)`)

// secretValue matches what Stripe and SendGrid keys look like.
var secretValue = regexp.MustCompile(`(?i)\b[sr]k_(live|test)|\bSG\.`)

// realKey matches a key pasted anywhere in the file, comments included.
var realKey = regexp.MustCompile(`\b[sr]k_(live|test)_[0-9A-Za-z]{10,}|\bSG\.[0-9A-Za-z_-]{16,}`)

func TestSecretsComeFromTheEnvironment(t *testing.T) {
	c := loadCompose(t)
	env := environment(t, svcWorker, c.service(t, svcWorker))
	for _, k := range requiredSecrets(t, workerReads(t)) {
		e, ok := env[k]
		if !ok {
			t.Errorf("worker: required %s not set", k)
			continue
		}
		if !fromUser(k, e) {
			t.Errorf("worker: %s = %q, want ${%s:?message} (or ${%s}): it must come from the user's environment, with no default", k, e.raw, k, k)
		}
	}

	for name, s := range c.Services {
		for k, e := range environment(t, name, s) {
			if secretValue.MatchString(e.raw) {
				t.Errorf("service %s: %s has a value that looks like a Stripe or SendGrid key", name, k)
			}
			if secretName.MatchString(k) && !fromUserVar(e) {
				t.Errorf("service %s: %s = %q: a credential must come from the user's environment (${VAR:?message}), never be written here", name, k, e.raw)
			}
		}
	}

	raw, err := os.ReadFile(composePath)
	if err != nil {
		t.Fatal(err)
	}
	if loc := realKey.FindIndex(raw); loc != nil {
		t.Errorf("%s contains what looks like a real key at byte %d", composePath, loc[0])
	}
}

func TestWorkerDefaultsAreValid(t *testing.T) {
	c := loadCompose(t)
	env := environment(t, svcWorker, c.service(t, svcWorker))
	resolved := map[string]string{}
	for k, e := range env {
		resolved[k] = resolve(e, "provided-by-user")
	}
	cfg, err := config.WorkerFromEnv(lookupIn(resolved))
	if err != nil {
		t.Fatalf("the worker's compose defaults are rejected by config.WorkerFromEnv: %v", err)
	}
	if cfg.SendGridAPIURL != config.DefaultSendGridAPIURL {
		t.Errorf("SENDGRID_API_URL default resolves to %q, want the config default %q", cfg.SendGridAPIURL, config.DefaultSendGridAPIURL)
	}
	if len(cfg.Templates) != 0 {
		t.Errorf("templates configured by default: %v; want none unless the user sets them", cfg.Templates)
	}

	addr := resolved["TEMPORAL_ADDRESS"]
	host, port, ok := strings.Cut(addr, ":")
	if !ok || port == "" {
		t.Errorf("worker: TEMPORAL_ADDRESS %q, want host:port", addr)
	} else if _, ok := c.Services[host]; !ok {
		t.Errorf("worker: TEMPORAL_ADDRESS %q names no service of the stack", addr)
	} else if host != svcTemporal {
		t.Errorf("worker: TEMPORAL_ADDRESS %q, want the %s service", addr, svcTemporal)
	}
	if resolved["TEMPORAL_NAMESPACE"] == "" {
		t.Error("worker: TEMPORAL_NAMESPACE is empty")
	}
}

// createCall is one `temporal operator search-attribute create` in a script
// (the CLI named temporal or by a variable).
type createCall struct {
	namespace string
	names     []string
	types     []string
}

var createRE = regexp.MustCompile(`\boperator\s+search-attribute\s+create\b([^\n]*)`)

func parseCreates(script string) []createCall {
	script = strings.ReplaceAll(script, "\\\n", " ") // shell line continuations
	var calls []createCall
	for _, m := range createRE.FindAllStringSubmatch(script, -1) {
		args := m[1]
		for _, op := range []string{"||", "&&", ";", "|", ")", ">", "#"} {
			if i := strings.Index(args, op); i >= 0 {
				args = args[:i]
			}
		}
		var c createCall
		fields := strings.Fields(args)
		for i := 0; i < len(fields); i++ {
			flag, val, hasEq := strings.Cut(fields[i], "=")
			if !hasEq && i+1 < len(fields) {
				val = fields[i+1]
			}
			val = strings.Trim(val, `"'`)
			consumed := !hasEq
			switch flag {
			case "--namespace", "-n":
				c.namespace = val
			case "--name":
				c.names = append(c.names, val)
			case "--type":
				c.types = append(c.types, val)
			default:
				consumed = false
			}
			if consumed {
				i++
			}
		}
		calls = append(calls, c)
	}
	return calls
}

func commandText(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case []any:
		parts := make([]string, len(x))
		for i, p := range x {
			parts[i] = fmt.Sprint(p)
		}
		return strings.Join(parts, "\n")
	default:
		return fmt.Sprint(x)
	}
}

// dependsOn returns a service's dependencies with their conditions
// (service_started for the short list form).
func dependsOn(t *testing.T, name string, s service) map[string]string {
	t.Helper()
	out := map[string]string{}
	switch d := s.DependsOn.(type) {
	case nil:
	case []any:
		for _, x := range d {
			out[fmt.Sprint(x)] = "service_started"
		}
	case map[string]any:
		for dep, v := range d {
			cond := "service_started"
			if m, ok := v.(map[string]any); ok {
				if c, ok := m["condition"].(string); ok {
					cond = c
				}
			}
			out[dep] = cond
		}
	default:
		t.Fatalf("service %s: depends_on has unexpected shape %T", name, d)
	}
	return out
}

func TestStartupOrder(t *testing.T) {
	c := loadCompose(t)
	for name, s := range c.Services {
		for dep, cond := range dependsOn(t, name, s) {
			target, ok := c.Services[dep]
			if !ok {
				t.Errorf("service %s depends on unknown service %s", name, dep)
				continue
			}
			if cond == "service_healthy" && target.Healthcheck["test"] == nil {
				t.Errorf("service %s waits for %s to be healthy, but %s has no healthcheck", name, dep, dep)
			}
		}
	}
	for _, name := range []string{svcSchema, svcRegister} {
		if r := fmt.Sprint(c.service(t, name).Restart); r != "no" {
			t.Errorf("service %s: restart %q, want \"no\" (a one-shot job the next step waits for)", name, r)
		}
	}
	for _, want := range []struct{ svc, dep, cond string }{
		{svcSchema, svcPostgres, "service_healthy"},
		{svcTemporal, svcSchema, "service_completed_successfully"},
		{svcRegister, svcTemporal, "service_healthy"},
		{svcUI, svcTemporal, "service_healthy"},
		{svcWorker, svcRegister, "service_completed_successfully"},
	} {
		if got := dependsOn(t, want.svc, c.service(t, want.svc))[want.dep]; got != want.cond {
			t.Errorf("service %s: depends_on %s condition %q, want %q", want.svc, want.dep, got, want.cond)
		}
	}
}

// goDirective returns go.mod's go version as major.minor.
func goDirective(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(goModPath)
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^go\s+(\d+\.\d+)`).FindSubmatch(b)
	if m == nil {
		t.Fatalf("%s: no go directive", goModPath)
	}
	return string(m[1])
}

// dockerInstructions returns the worker Dockerfile's instructions.
func dockerInstructions(t *testing.T) []string {
	t.Helper()
	return dockerInstructionsOf(t, dockerfilePath)
}

// dockerInstructionsOf returns a Dockerfile's instructions, continuation
// lines joined and comments dropped.
func dockerInstructionsOf(t *testing.T, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	var cur strings.Builder
	for _, line := range strings.Split(string(b), "\n") {
		trimmed := strings.TrimSpace(line)
		if cur.Len() == 0 && (trimmed == "" || strings.HasPrefix(trimmed, "#")) {
			continue
		}
		if strings.HasSuffix(trimmed, "\\") {
			cur.WriteString(strings.TrimSuffix(trimmed, "\\") + " ")
			continue
		}
		cur.WriteString(trimmed)
		out = append(out, cur.String())
		cur.Reset()
	}
	if cur.Len() > 0 {
		out = append(out, cur.String())
	}
	return out
}

func TestDockerfile(t *testing.T) {
	ins := dockerInstructions(t)
	var froms []string
	for _, in := range ins {
		if f := strings.Fields(in); len(f) >= 2 && strings.EqualFold(f[0], "FROM") {
			froms = append(froms, f[1])
		}
	}
	if len(froms) < 2 {
		t.Fatalf("Dockerfile has stages %v, want a build stage and a runtime stage", froms)
	}

	build := froms[0]
	m := regexp.MustCompile(`^(?:docker\.io/(?:library/)?)?golang:(\d+\.\d+)`).FindStringSubmatch(build)
	if m == nil {
		t.Fatalf("Dockerfile build stage FROM %s, want golang:<go.mod's major.minor>", build)
	}
	if want := goDirective(t); m[1] != want {
		t.Errorf("Dockerfile builds with Go %s, go.mod says %s", m[1], want)
	}
	runtime := froms[len(froms)-1]
	if err := checkPinned(runtime); err != nil {
		t.Errorf("Dockerfile runtime image %s: %v", runtime, err)
	}

	all := strings.Join(ins, "\n")
	if !regexp.MustCompile(`(?m)^RUN\b.*\bgo build\b[^\n&;]*\s\./worker\b`).MatchString(all) {
		t.Error("Dockerfile does not `go build ... ./worker`")
	}
	if !strings.Contains(all, "CGO_ENABLED=0") {
		t.Error("Dockerfile does not set CGO_ENABLED=0: the runtime image has no libc")
	}
	modCopy := regexp.MustCompile(`(?m)^COPY\s+go\.mod\s+go\.sum\s`).FindStringIndex(all)
	download := strings.Index(all, "go mod download")
	srcCopy := regexp.MustCompile(`(?m)^COPY\s+\.\s`).FindStringIndex(all)
	if modCopy == nil || download < 0 || srcCopy == nil || !(modCopy[0] < download && download < srcCopy[0]) {
		t.Error("Dockerfile should COPY go.mod go.sum, RUN go mod download, then COPY the source (layer caching)")
	}
	var entry string
	for _, in := range ins {
		if strings.HasPrefix(strings.ToUpper(in), "ENTRYPOINT") {
			entry = strings.TrimSpace(in[len("ENTRYPOINT"):])
		}
	}
	if entry != `["/worker"]` {
		t.Errorf("Dockerfile ENTRYPOINT %s, want [\"/worker\"]", entry)
	}
}

func TestDockerignore(t *testing.T) {
	b, err := os.ReadFile(dockerignorePath)
	if err != nil {
		t.Fatal(err)
	}
	lines := map[string]bool{}
	for _, l := range strings.Split(string(b), "\n") {
		lines[strings.TrimSuffix(strings.TrimPrefix(strings.TrimSpace(l), "/"), "/")] = true
	}
	for _, want := range []string{".git", ".tmp", "bin", "*.test", ".env"} {
		if !lines[want] {
			t.Errorf(".dockerignore does not exclude %s", want)
		}
	}
}

// The parsers above are what the checks rest on; pin their behaviour.
func TestParsers(t *testing.T) {
	for raw, want := range map[string]subst{
		"${A}":             {name: "A"},
		"${A:?set A}":      {name: "A", op: ":?", arg: "set A"},
		"${A:-x <y@z>}":    {name: "A", op: ":-", arg: "x <y@z>"},
		"${A-}":            {name: "A", op: "-"},
		"${A?need it (x)}": {name: "A", op: "?", arg: "need it (x)"},
	} {
		if got, ok := parseSubst(raw); !ok || got != want {
			t.Errorf("parseSubst(%q) = %+v, %v; want %+v", raw, got, ok, want)
		}
	}
	for _, raw := range []string{"sk_test_123", "x${A}", "${A}x", "$A", ""} {
		if _, ok := parseSubst(raw); ok {
			t.Errorf("parseSubst(%q) ok, want not a whole-value substitution", raw)
		}
	}
	if fromUser("A", envEntry{raw: "${A:-default}"}) || !fromUser("A", envEntry{raw: "${A:?m}"}) || fromUser("A", envEntry{raw: "${B}"}) ||
		!fromUserVar(envEntry{raw: "${B:?m}"}) || fromUserVar(envEntry{raw: "${B-x}"}) || fromUserVar(envEntry{raw: "literal"}) {
		t.Error("fromUser/fromUserVar misjudge defaults or names")
	}

	calls := parseCreates("x() { :; }\ncreate temporal operator search-attribute create --namespace default --name A --type Keyword || true\n" +
		"temporal operator search-attribute create -n=ns \\\n  --name B --type Int --name=C --type=Bool 2>&1")
	if len(calls) != 2 ||
		calls[0].namespace != "default" || !slices.Equal(calls[0].names, []string{"A"}) || !slices.Equal(calls[0].types, []string{"Keyword"}) ||
		calls[1].namespace != "ns" || !slices.Equal(calls[1].names, []string{"B", "C"}) || !slices.Equal(calls[1].types, []string{"Int", "Bool"}) {
		t.Errorf("parseCreates = %+v", calls)
	}

	for image, ok := range map[string]bool{
		"postgres:16": true, "temporalio/ui:2.34.0": true, "localhost:5000/x:1": true, "x@sha256:ab": true,
		"postgres": false, "postgres:latest": false, "localhost:5000/x": false, "x:${V}": false,
	} {
		if err := checkPinned(image); (err == nil) != ok {
			t.Errorf("checkPinned(%q) = %v, want pinned=%v", image, err, ok)
		}
	}
}
