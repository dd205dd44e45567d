#!/usr/bin/env node
// Copies the dashboard's page (src/dashboard/assets: HTML, JS, CSS) beside its compiled module
// in dist/src/dashboard/assets, which `tsc` does not do. Run by `npm run build:ts`.
'use strict';
const fs = require('fs');
const path = require('path');

const root = path.resolve(__dirname, '..');
const from = path.join(root, 'src', 'dashboard', 'assets');
const to = path.join(root, 'dist', 'src', 'dashboard', 'assets');

fs.rmSync(to, { recursive: true, force: true });
fs.cpSync(from, to, { recursive: true });
