export { createDashboard, type DashboardHandler, type DashboardOptions } from './dashboard';
export { startDashboard, type RunningDashboard, type StartDashboardOptions } from './start';
