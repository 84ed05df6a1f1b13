import type { ReactNode } from "react";
import { Navigate, Route, Routes, useLocation, Link } from "react-router";
import { useAuth } from "./auth/useAuth";
import { SignInPage } from "./auth/SignInPage";
import { Layout } from "./components/Layout";
import { PageHeader } from "./components/ui";
import { buttonClass } from "./components/styles";
import { CreateFunctionPage } from "./functions/CreateFunctionPage";
import { FunctionDetailPage } from "./functions/FunctionDetailPage";
import { FunctionsListPage } from "./functions/FunctionsListPage";
import { TenantPage } from "./tenant/TenantPage";

function RequireAuth({ children }: { children: ReactNode }) {
  const { session, signedOutByUser } = useAuth();
  const location = useLocation();
  if (!session) {
    // after an expired session or a deep link, come back here once signed in
    const state = signedOutByUser ? null : { from: location.pathname + location.search };
    return <Navigate to="/signin" replace state={state} />;
  }
  return children;
}

function NotFound() {
  return (
    <>
      <PageHeader title="Page not found" />
      <Link to="/functions" className={buttonClass("secondary")}>
        Go to functions
      </Link>
    </>
  );
}

export function App() {
  return (
    <Routes>
      <Route path="/signin" element={<SignInPage />} />
      <Route
        element={
          <RequireAuth>
            <Layout />
          </RequireAuth>
        }
      >
        <Route index element={<Navigate to="/functions" replace />} />
        <Route path="/functions" element={<FunctionsListPage />} />
        <Route path="/functions/new" element={<CreateFunctionPage />} />
        <Route path="/functions/:name" element={<FunctionDetailPage />} />
        <Route path="/tenant" element={<TenantPage />} />
        <Route path="*" element={<NotFound />} />
      </Route>
    </Routes>
  );
}
