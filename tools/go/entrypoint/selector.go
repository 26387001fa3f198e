package main

import (
	"fmt"
	"sort"
	"strings"
)

// matchLabelsSelector writes labels as the API's labelSelector query: k1=v1,k2=v2, sorted so that a request (and
// a log line) is the same every poll.
func matchLabelsSelector(labels map[string]string) string {
	parts := make([]string, 0, len(labels))
	for k, v := range labels {
		parts = append(parts, k+"="+v)
	}
	sort.Strings(parts)
	return strings.Join(parts, ",")
}

// selectorString writes a workload's spec.selector in the query syntax, expressions included.
func selectorString(s *labelSelector) (string, error) {
	if s == nil {
		return "", fmt.Errorf("it has no selector")
	}
	parts := []string{}
	if len(s.MatchLabels) > 0 {
		parts = append(parts, matchLabelsSelector(s.MatchLabels))
	}
	for _, r := range s.MatchExpressions {
		values := append([]string(nil), r.Values...)
		sort.Strings(values)
		switch r.Operator {
		case "In":
			parts = append(parts, fmt.Sprintf("%s in (%s)", r.Key, strings.Join(values, ",")))
		case "NotIn":
			parts = append(parts, fmt.Sprintf("%s notin (%s)", r.Key, strings.Join(values, ",")))
		case "Exists":
			parts = append(parts, r.Key)
		case "DoesNotExist":
			parts = append(parts, "!"+r.Key)
		default:
			return "", fmt.Errorf("its selector has an unknown operator %q", r.Operator)
		}
	}
	if len(parts) == 0 {
		// An empty selector selects everything: never treat unrelated pods as the daemonset's.
		return "", fmt.Errorf("its selector is empty")
	}
	return strings.Join(parts, ","), nil
}
