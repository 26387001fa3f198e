package main

import (
	"context"
	"fmt"
	"net/url"
)

// jobDependency is met when the named Job, or every Job with the labels (at least one), has succeeded once.
type jobDependency struct {
	namespace string
	name      string            // either a name
	labels    map[string]string // or labels
}

func (d jobDependency) String() string {
	if d.name != "" {
		return fmt.Sprintf("Job %s/%s", d.namespace, d.name)
	}
	return fmt.Sprintf("Jobs in %s with labels %s", d.namespace, matchLabelsSelector(d.labels))
}

func (d jobDependency) check(ctx context.Context, api *apiClient) error {
	base := fmt.Sprintf("/apis/batch/v1/namespaces/%s/jobs", url.PathEscape(d.namespace))
	if d.name != "" {
		var job jobObject
		if err := api.get(ctx, base+"/"+url.PathEscape(d.name), nil, &job); err != nil {
			if isNotFound(err) {
				return fmt.Errorf("it does not exist")
			}
			return err
		}
		return jobSucceeded(&job)
	}
	var jobs jobList
	if err := api.get(ctx, base, url.Values{"labelSelector": {matchLabelsSelector(d.labels)}}, &jobs); err != nil {
		return err
	}
	if len(jobs.Items) == 0 {
		return fmt.Errorf("no job has these labels")
	}
	for i := range jobs.Items {
		if err := jobSucceeded(&jobs.Items[i]); err != nil {
			return fmt.Errorf("job %s: %w", jobs.Items[i].Metadata.Name, err)
		}
	}
	return nil
}

func jobSucceeded(job *jobObject) error {
	if job.Status.Succeeded > 0 {
		return nil
	}
	for _, c := range job.Status.Conditions {
		if c.Type == "Failed" && c.Status == "True" {
			// Still waited for: a chart upgrade may replace the job.
			return fmt.Errorf("it failed: %s", c.Message)
		}
	}
	return fmt.Errorf("not succeeded yet (%d active, %d failed pods)", job.Status.Active, job.Status.Failed)
}
