// Mirrors "Creating Pipelines > Basic Pipeline Creation" (Scala object PipelineExample) of the
// Pipeline Management guide, in Java with the same JDK HttpClient calls. play-json is replaced by a
// JSON string; the base URL comes from args[0] and each answer's status is printed as status=NNN.
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;

public class PipelineExample {
    public static void main(String[] args) throws Exception {
        String base = args.length > 0 ? args[0] : "http://localhost:8000";
        HttpClient client = HttpClient.newHttpClient();
        String json = """
            {"name": "daily sales pipeline",
             "pipeline_type_name": "extraction",
             "pipeline_metadata": {
               "description": "Daily extraction of sales data",
               "owner": "data-team",
               "schedule": "0 2 * * *"}}""";
        HttpRequest request = HttpRequest.newBuilder()
            .uri(URI.create(base + "/pipeline"))
            .header("Content-Type", "application/json")
            .POST(HttpRequest.BodyPublishers.ofString(json))
            .build();
        HttpResponse<String> response = client.send(request,
            HttpResponse.BodyHandlers.ofString());
        System.out.println("status=" + response.statusCode());
        System.out.println(response.body());
    }
}
