export { runWorkflow, type RunWorkflowOptions, type WorkflowRun } from './run-workflow';
