package api_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
)

const specPath = "../../api/openapi.yaml"

var (
	specOnce sync.Once
	specDoc  *openapi3.T
	specErr  error
)

// loadSpec parses and validates api/openapi.yaml once. Every object
// schema in it is closed (additionalProperties false) for the tests, so a
// field the server sends but the spec does not describe fails them; the
// published spec stays open to additive fields.
func loadSpec(t *testing.T) *openapi3.T {
	t.Helper()
	specOnce.Do(func() {
		l := openapi3.NewLoader()
		specDoc, specErr = l.LoadFromFile(specPath)
		if specErr != nil {
			return
		}
		if specErr = specDoc.Validate(context.Background()); specErr != nil {
			return
		}
		seen := map[*openapi3.Schema]bool{}
		var closeSchema func(s *openapi3.SchemaRef)
		closeSchema = func(s *openapi3.SchemaRef) {
			if s == nil || s.Value == nil || seen[s.Value] {
				return
			}
			v := s.Value
			seen[v] = true
			if v.Type.Is("object") && len(v.Properties) > 0 && v.AdditionalProperties.Has == nil && v.AdditionalProperties.Schema == nil {
				f := false
				v.AdditionalProperties.Has = &f
			}
			for _, p := range v.Properties {
				closeSchema(p)
			}
			closeSchema(v.Items)
		}
		for _, pi := range specDoc.Paths.Map() {
			for _, op := range pi.Operations() {
				for _, r := range op.Responses.Map() {
					if r.Value == nil {
						continue
					}
					for _, mt := range r.Value.Content {
						closeSchema(mt.Schema)
					}
				}
			}
		}
	})
	if specErr != nil {
		t.Fatalf("%s: %v", specPath, specErr)
	}
	return specDoc
}

// specRoutes lists "METHOD /path" for every operation in the spec.
func specRoutes(doc *openapi3.T) []string {
	var out []string
	for path, pi := range doc.Paths.Map() {
		for method := range pi.Operations() {
			out = append(out, method+" "+path)
		}
	}
	sort.Strings(out)
	return out
}

// TestOpenAPIMatchesRoutes: api/openapi.yaml describes exactly the routes
// a server serving every role routes, and each of them is really routed.
func TestOpenAPIMatchesRoutes(t *testing.T) {
	doc := loadSpec(t)
	spec := specRoutes(doc)
	e := newEnv(t, envOpts{iso: true})
	served := e.api.Routes()
	sort.Strings(served)
	for _, r := range served {
		if !slices.Contains(spec, r) {
			t.Errorf("served but not in api/openapi.yaml: %s", r)
		}
	}
	for _, r := range spec {
		if !slices.Contains(served, r) {
			t.Errorf("in api/openapi.yaml but not served: %s", r)
		}
	}
	fill := strings.NewReplacer("{txid}", hashOf(1).String(), "{noteid}", hashOf(1).String(), "{id}", hashOf(1).String(), "{name}", "bank-a")
	for _, r := range served {
		method, path, _ := strings.Cut(r, " ")
		resp := e.rawS(t, method, fill.Replace(path), bankATok, "{}")
		if resp.status == 404 && strings.Contains(string(resp.body), "no route") || resp.status == 405 {
			t.Errorf("%s is not routed: %d %s", r, resp.status, resp.body)
		}
	}
}

// conformance sends requests to a served API and checks each answer
// against api/openapi.yaml: the status is one the operation documents
// explicitly (not only by default), and the content type and body match
// that response's schema. It records which documented statuses were seen.
type conformance struct {
	t    *testing.T
	doc  *openapi3.T
	mu   sync.Mutex
	seen map[string]map[int]bool // route -> statuses answered
}

func newConformance(t *testing.T) *conformance {
	return &conformance{t: t, doc: loadSpec(t), seen: map[string]map[int]bool{}}
}

// req is one request: route is the spec's "METHOD /template", path the
// concrete path (with query), base the server's URL.
type req struct {
	base, route, path, token, body string
	header                         map[string]string
}

// do sends r, checks the answer is status (with error code, if code is
// not empty) and conforms to the spec, and returns the decoded body.
func (c *conformance) do(r req, status int, code string) response {
	t := c.t
	t.Helper()
	method, tmpl, _ := strings.Cut(r.route, " ")
	newReq := func() *http.Request {
		var body io.Reader
		if r.body != "" {
			body = strings.NewReader(r.body)
		}
		hr, err := http.NewRequest(method, r.base+r.path, body)
		if err != nil {
			t.Fatal(err)
		}
		if r.body != "" {
			hr.Header.Set("Content-Type", "application/json")
		}
		if r.token != "" {
			hr.Header.Set("Authorization", "Bearer "+r.token)
		}
		for k, v := range r.header {
			hr.Header.Set(k, v)
		}
		return hr
	}
	hr := newReq()
	resp, err := http.DefaultClient.Do(hr)
	if err != nil {
		t.Fatalf("%s %s: %v", method, r.path, err)
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	got := response{status: resp.StatusCode, header: resp.Header, body: b}
	if got.status != status {
		t.Fatalf("%s %s: status %d, want %d; body %s", method, r.path, got.status, status, b)
	}
	if code != "" {
		wantError(t, got, status, code)
	}

	pi := c.doc.Paths.Value(tmpl)
	if pi == nil || pi.GetOperation(method) == nil {
		t.Fatalf("%s is not in the spec", r.route)
	}
	op := pi.GetOperation(method)
	if op.Responses.Status(status) == nil {
		t.Fatalf("%s answered %d, which the spec does not document for it: %s", r.route, status, b)
	}
	c.mu.Lock()
	if c.seen[r.route] == nil {
		c.seen[r.route] = map[int]bool{}
	}
	c.seen[r.route][status] = true
	c.mu.Unlock()

	vr := newReq()
	in := &openapi3filter.RequestValidationInput{
		Request:    vr,
		PathParams: pathParams(tmpl, strings.SplitN(r.path, "?", 2)[0]),
		Route:      &routers.Route{Spec: c.doc, Path: tmpl, PathItem: pi, Method: method, Operation: op},
		Options:    &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc, MultiError: true},
	}
	if status < 300 {
		// What the server accepted, the spec accepts too.
		if err := openapi3filter.ValidateRequest(context.Background(), in); err != nil {
			t.Fatalf("%s %s: the accepted request does not conform to the spec: %v", method, r.path, err)
		}
	}
	out := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: in,
		Status:                 status,
		Header:                 resp.Header,
		Body:                   io.NopCloser(bytes.NewReader(b)),
		Options:                &openapi3filter.Options{IncludeResponseStatus: true, MultiError: true},
	}
	if err := openapi3filter.ValidateResponse(context.Background(), out); err != nil {
		t.Fatalf("%s %s answered %d, which does not conform to the spec: %v\nbody: %s", method, r.path, status, errText(err), b)
	}
	return got
}

func errText(err error) string {
	var me openapi3.MultiError
	if errors.As(err, &me) {
		var s []string
		for _, e := range me {
			s = append(s, e.Error())
		}
		return strings.Join(s, "\n")
	}
	return err.Error()
}

// pathParams matches a concrete path to its template.
func pathParams(tmpl, path string) map[string]string {
	out := map[string]string{}
	ts, ps := strings.Split(tmpl, "/"), strings.Split(path, "/")
	for i := range min(len(ts), len(ps)) {
		if strings.HasPrefix(ts[i], "{") {
			out[strings.Trim(ts[i], "{}")] = ps[i]
		}
	}
	return out
}

// checkCoverage fails for every status an operation documents explicitly
// that no request of the test provoked.
func (c *conformance) checkCoverage() {
	c.t.Helper()
	for _, route := range specRoutes(c.doc) {
		method, tmpl, _ := strings.Cut(route, " ")
		op := c.doc.Paths.Value(tmpl).GetOperation(method)
		var missing []string
		for k := range op.Responses.Map() {
			if k == "default" {
				continue
			}
			var st int
			if _, err := fmt.Sscan(k, &st); err != nil || !c.seen[route][st] {
				missing = append(missing, k)
			}
		}
		if len(missing) > 0 {
			sort.Strings(missing)
			c.t.Errorf("%s documents %s, which no test request provoked", route, strings.Join(missing, ", "))
		}
	}
}
