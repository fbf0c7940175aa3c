//! Dependency graphs between named jobs (e.g. `extract -> transform -> load`).

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use crate::error::{JobError, JobResult};

/// A directed acyclic graph of job names. Edges point from a dependency
/// to the jobs that depend on it.
#[derive(Debug, Clone, Default)]
pub struct JobGraph {
    edges: BTreeMap<String, BTreeSet<String>>,
}

impl JobGraph {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn add_job(&mut self, name: &str) {
        self.edges.entry(name.to_string()).or_default();
    }

    /// Declare that `job` must run after `dependency`.
    pub fn depends_on(&mut self, job: &str, dependency: &str) -> JobResult<()> {
        if job == dependency {
            return Err(JobError::Cycle(vec![job.to_string(), job.to_string()]));
        }
        self.add_job(job);
        self.edges.entry(dependency.to_string()).or_default().insert(job.to_string());
        if let Some(cycle) = self.find_cycle() {
            // Roll back so the graph stays valid.
            if let Some(children) = self.edges.get_mut(dependency) {
                children.remove(job);
            }
            return Err(JobError::Cycle(cycle));
        }
        Ok(())
    }

    fn in_degrees(&self) -> BTreeMap<&str, usize> {
        let mut degrees: BTreeMap<&str, usize> = self.edges.keys().map(|k| (k.as_str(), 0)).collect();
        for child in self.edges.values().flatten() {
            *degrees.entry(child.as_str()).or_insert(0) += 1;
        }
        degrees
    }

    /// Kahn's algorithm; ties are broken alphabetically for stable output.
    pub fn topological_order(&self) -> JobResult<Vec<String>> {
        let mut degrees = self.in_degrees();
        let mut ready: VecDeque<&str> = degrees.iter().filter(|(_, &d)| d == 0).map(|(&n, _)| n).collect();
        let mut order = Vec::with_capacity(degrees.len());

        while let Some(node) = ready.pop_front() {
            order.push(node.to_string());
            for child in self.edges.get(node).into_iter().flatten() {
                let degree = degrees.get_mut(child.as_str()).expect("every child has a degree");
                *degree -= 1;
                if *degree == 0 {
                    ready.push_back(child);
                }
            }
        }

        if order.len() == degrees.len() {
            Ok(order)
        } else {
            Err(JobError::Cycle(self.find_cycle().unwrap_or_default()))
        }
    }

    /// Group jobs into waves that can run in parallel.
    pub fn waves(&self) -> JobResult<Vec<Vec<String>>> {
        let order = self.topological_order()?;
        let mut level: BTreeMap<&str, usize> = BTreeMap::new();
        for name in &order {
            let my_level = level.get(name.as_str()).copied().unwrap_or(0);
            for child in self.edges.get(name).into_iter().flatten() {
                let entry = level.entry(child.as_str()).or_insert(0);
                *entry = (*entry).max(my_level + 1);
            }
            level.entry(name.as_str()).or_insert(my_level);
        }
        let depth = level.values().copied().max().map_or(0, |m| m + 1);
        let mut waves = vec![Vec::new(); depth];
        for name in &order {
            waves[level[name.as_str()]].push(name.clone());
        }
        Ok(waves)
    }

    /// Depth-first search for a cycle, returned as a closed path.
    fn find_cycle(&self) -> Option<Vec<String>> {
        #[derive(Clone, Copy, PartialEq)]
        enum Mark {
            Visiting,
            Done,
        }

        fn visit<'a>(
            graph: &'a BTreeMap<String, BTreeSet<String>>,
            node: &'a str,
            marks: &mut BTreeMap<&'a str, Mark>,
            stack: &mut Vec<&'a str>,
        ) -> Option<Vec<String>> {
            match marks.get(node) {
                Some(Mark::Done) => return None,
                Some(Mark::Visiting) => {
                    let start = stack.iter().position(|n| *n == node)?;
                    let mut cycle: Vec<String> = stack[start..].iter().map(|s| s.to_string()).collect();
                    cycle.push(node.to_string());
                    return Some(cycle);
                }
                None => {}
            }
            marks.insert(node, Mark::Visiting);
            stack.push(node);
            for child in graph.get(node).into_iter().flatten() {
                if let Some(cycle) = visit(graph, child, marks, stack) {
                    return Some(cycle);
                }
            }
            stack.pop();
            marks.insert(node, Mark::Done);
            None
        }

        let mut marks = BTreeMap::new();
        self.edges
            .keys()
            .find_map(|start| visit(&self.edges, start, &mut marks, &mut Vec::new()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn etl() -> JobGraph {
        let mut g = JobGraph::new();
        g.depends_on("transform", "extract").unwrap();
        g.depends_on("load", "transform").unwrap();
        g.depends_on("report", "load").unwrap();
        g.depends_on("audit", "extract").unwrap();
        g
    }

    #[test]
    fn topological_order_respects_dependencies() {
        let order = etl().topological_order().unwrap();
        let pos = |n: &str| order.iter().position(|x| x == n).unwrap();
        assert!(pos("extract") < pos("transform"));
        assert!(pos("transform") < pos("load"));
        assert!(pos("load") < pos("report"));
        assert_eq!(order.len(), 5);
    }

    #[test]
    fn waves_group_parallel_work() {
        let waves = etl().waves().unwrap();
        assert_eq!(waves[0], ["extract"]);
        assert_eq!(waves[1], ["audit", "transform"]);
        assert_eq!(waves.len(), 4);
    }

    #[test]
    fn cycles_are_rejected_and_rolled_back() {
        let mut g = etl();
        match g.depends_on("extract", "report") {
            Err(JobError::Cycle(path)) => {
                assert_eq!(path.first(), path.last());
                assert!(path.contains(&"load".to_string()));
            }
            other => panic!("expected cycle, got {other:?}"),
        }
        assert!(g.topological_order().is_ok());
        assert!(g.depends_on("x", "x").is_err());
    }
}
