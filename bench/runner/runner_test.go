package main

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestParseFlagsCluster(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		want    clusterMode
		wantErr string
	}{
		{name: "default: when installed", want: clusterAuto},
		{name: "--cluster", args: []string{"--cluster"}, want: clusterOn},
		{name: "--no-cluster", args: []string{"--no-cluster"}, want: clusterOff},
		{name: "--cluster=false", args: []string{"--cluster=false"}, want: clusterOff},
		{name: "--no-cluster=false", args: []string{"--no-cluster=false"}, want: clusterOn},
		{name: "both", args: []string{"--cluster", "--no-cluster"}, wantErr: "give one of them"},
		{name: "too few connections for 3 wrk", args: []string{"--connections", "2", "--threads", "1"}, wantErr: "need --connections >= 3"},
		{name: "few connections without the cluster", args: []string{"--connections", "2", "--threads", "1", "--no-cluster"}, want: clusterOff},
		{name: "quick", args: []string{"--quick"}, want: clusterAuto},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o, err := parseFlags(tt.args)
			switch {
			case tt.wantErr != "":
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("parseFlags(%q) = %v, want an error with %q", tt.args, err, tt.wantErr)
				}
			case err != nil:
				t.Fatalf("parseFlags(%q): %v", tt.args, err)
			case o.cluster != tt.want:
				t.Fatalf("parseFlags(%q).cluster = %d, want %d", tt.args, o.cluster, tt.want)
			}
		})
	}
}

func TestClientsFor(t *testing.T) {
	tests := []struct {
		weights, want []int
	}{
		{[]int{1}, []int{12}},
		{[]int{1, 1}, []int{6, 6}},
		{[]int{4, 1}, []int{8, 2}},
		{[]int{1, 1, 1}, []int{4, 4, 4}},
		{[]int{4, 1, 1}, []int{8, 2, 2}},
		{[]int{1, 0, 0}, []int{12, 0, 0}},
	}
	for _, tt := range tests {
		if got := clientsFor(tt.weights); !slices.Equal(got, tt.want) {
			t.Errorf("clientsFor(%v) = %v, want %v", tt.weights, got, tt.want)
		}
	}
}

func TestSumSamples(t *testing.T) {
	got := sumSamples([]sample{
		{RPS: 100, Requests: 200, P50us: 10, P99us: 50, P999us: 70, MaxUS: 90, MeanUS: 20, Non2xx: 1},
		{RPS: 300, Requests: 600, P50us: 30, P99us: 40, P999us: 80, MaxUS: 85, MeanUS: 40, SocketErrors: 2},
	})
	want := sample{RPS: 400, Requests: 800, P50us: 30, P99us: 50, P999us: 80, MaxUS: 90, MeanUS: 35, Non2xx: 1, SocketErrors: 2}
	if got != want {
		t.Errorf("sumSamples = %+v\nwant %+v", got, want)
	}
}

// TestFloodKeyCounts floods two servers that share one counter admitting the
// first 50 requests with the right key: the row counts what each said.
func TestFloodKeyCounts(t *testing.T) {
	var n atomic.Int64
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.Header.Get("Authorization") != "k":
			w.WriteHeader(http.StatusForbidden)
		case n.Add(1) <= 50:
			w.WriteHeader(http.StatusOK)
		default:
			w.WriteHeader(http.StatusTooManyRequests)
		}
	})
	a, b := httptest.NewServer(h), httptest.NewServer(h)
	defer a.Close()
	defer b.Close()
	row := floodKey(t.Context(), []string{a.URL, b.URL}, "k", []int{3, 1}, 300*time.Millisecond)
	if row.Admitted != 50 || row.PerGateway[0]+row.PerGateway[1] != 50 || row.Refused != row.Sent-50 || row.Other != 0 {
		t.Fatalf("row = %+v, want 50 admitted over both and the rest refused", row)
	}
	if row.MostInWindow != 50 {
		t.Fatalf("row = %+v, want all 50 admitted within one window", row)
	}
	if row := floodKey(t.Context(), []string{a.URL}, "wrong", []int{1}, 50*time.Millisecond); row.Other != row.Sent || row.Sent == 0 {
		t.Fatalf("a refused key: %+v, want every answer counted as other", row)
	}
}

// TestScriptLines: the cluster ratios come before keyed_ratio, NA (with the
// reason printed) when a case was skipped or measured refusals.
func TestScriptLines(t *testing.T) {
	r := &results{Cases: []*benchCase{
		{ID: "baseline", Name: "baseline Go proxy", Samples: []sample{{RPS: 1000}}},
		{ID: "key_rate_quota", Name: "tollgate key+rate+quota", Samples: []sample{{RPS: 900}}},
		{ID: "cluster1", Name: "cluster, 1", Samples: []sample{{RPS: 800}}},
		{ID: "cluster3", Name: "cluster, 3", Samples: []sample{{RPS: 700, Non2xx: 3}}},
	}, Accuracy: &accuracyResult{Skipped: "--no-cluster"}}
	summarise(r.Cases)
	if got := r.Cases[2].RatioToKeyed; got < 0.888 || got > 0.889 {
		t.Errorf("cluster1 ratio to the keyed case = %v, want 800/900", got)
	}
	var out bytes.Buffer
	r.print(&out)
	lines := append(r.clusterRatioLines(), r.keyedRatioLine())
	if want := []string{"cluster1_ratio=0.80", "cluster3_ratio=NA", "keyed_ratio=0.90"}; !slices.Equal(lines, want) {
		t.Errorf("lines = %q, want %q", lines, want)
	}
	for _, s := range []string{"cluster3_ratio is NA: 3 responses >= 400 during the cluster, 3 case", "accuracy table skipped: --no-cluster", "x keyed"} {
		if !strings.Contains(out.String(), s) {
			t.Errorf("the table lacks %q:\n%s", s, out.String())
		}
	}
}
